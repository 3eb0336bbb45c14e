# Test stand-in for meta-aos's aos-messageproxy recipe (the variables, functions and tasks the layer's bbappend splits; no inherit: the classes are openembedded-core's) (see tests/bitbake_stubs/README): an excerpt.
# copied-from: meta-aos-v9.1.1.git 555cc291f7fc7c74db10ec22748f915c80c10180 recipes-aos/aos-messageproxy/aos-messageproxy_git.bb
# Every line below that is not a comment is a line of a file named above, unchanged;
# tests/test_bitbake_stubs.py compares them with the snapshots in ../shared/yocto.
DESCRIPTION = "AosCore Message Proxy"
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://LICENSE;md5=86d3f3a95c324c9479bd8986968f4327"

BRANCH = "main"
SRCREV = "d462f078ba9e43b3186f4dea22e256245550b3ec"

SRC_URI = "git://github.com/aosedge/aos_core_cpp.git;protocol=https;branch=${BRANCH}"

SRC_URI += " \
    file://mp.cfg \
    file://aos-mp.service \
    file://aos-mp-provisioning.service \
    file://aos-target.conf \
    file://aos-cm-service.conf \
"

S = "${WORKDIR}/git"


DEPENDS += "poco systemd grpc grpc-native protobuf-native protobuf curl libnl nftables"

PACKAGECONFIG ??= "openssl ${@bb.utils.contains('DISTRO_FEATURES', 'xen', 'vchan', '', d)}"
PACKAGECONFIG[vchan] = "-DWITH_VCHAN=ON,-DWITH_VCHAN=OFF,xen-tools,xen-tools-libxenvchan"
PACKAGECONFIG[openssl] = "-DWITH_OPENSSL=ON,-DWITH_OPENSSL=OFF,openssl,"
PACKAGECONFIG[mbedtls] = "-DWITH_MBEDTLS=ON,-DWITH_MBEDTLS=OFF,,"

OECMAKE_GENERATOR = "Unix Makefiles"

EXTRA_OECMAKE += " \
    -DFETCHCONTENT_FULLY_DISCONNECTED=OFF \
    -DWITH_CM=OFF \
    -DWITH_IAM=OFF \
    -DWITH_MP=ON \
    -DWITH_SM=OFF \
"

SYSTEMD_SERVICE:${PN} = "aos-mp.service aos-mp-provisioning.service"

FILES:${PN} += " \
    ${sysconfdir} \
"

RDEPENDS:${PN} += " \
    aos-target \
"

do_compile[network] = "1"
do_configure[network] =  "1"

do_fetch[vardeps] += "AOS_MAIN_NODE_HOSTNAME AOS_NODE_HOSTNAME"

python do_update_config() {
    import json

    file_name = oe.path.join(d.getVar("D"), d.getVar("sysconfdir"), "aos", "mp.cfg")

    with open(file_name) as f:
        data = json.load(f)

    iamConfig = data.get("iamConfig", {})
    iamConfig["iamPublicServerUrl"] = d.getVar("AOS_NODE_HOSTNAME") + ":8090"
    iamConfig["iamMainPublicServerUrl"] = d.getVar("AOS_MAIN_NODE_HOSTNAME") + ":8090"
    iamConfig["iamMainProtectedServerUrl"] = d.getVar("AOS_MAIN_NODE_HOSTNAME") + ":8089"

    cmConfig = data.get("cmConfig", {})
    cmConfig["cmServerUrl"] = d.getVar("AOS_MAIN_NODE_HOSTNAME") + ":8093"

    data["iamConfig"] = iamConfig
    data["cmConfig"] = cmConfig

    with open(file_name, "w") as f:
        json.dump(data, f, indent=4)
}

do_install:append() {
    install -d ${D}${sysconfdir}/aos
    install -m 0644 ${WORKDIR}/mp.cfg ${D}${sysconfdir}/aos

    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${WORKDIR}/aos-mp.service ${D}${systemd_system_unitdir}
    install -m 0644 ${WORKDIR}/aos-mp-provisioning.service ${D}${systemd_system_unitdir}

    install -d ${D}${sysconfdir}/systemd/system/aos.target.d
    install -m 0644 ${WORKDIR}/aos-target.conf ${D}${sysconfdir}/systemd/system/aos.target.d/${PN}.conf
}

do_install:append:aos-main-node() {
    install -d ${D}${sysconfdir}/systemd/system/aos-mp.service.d
    install -m 0644 ${WORKDIR}/aos-cm-service.conf ${D}${sysconfdir}/systemd/system/aos-mp.service.d/10-aos-cm-service.conf
}

do_install:append() {
    rm -rf ${D}${includedir}
}


addtask update_config after do_install before do_package
