"""What a bootloader the layer does not own must do for an Aos node (for `verify`): the
kernel arguments and initramfs of the layer's Aos kickstarts, for each node whose MACHINE
has no EFI boot partitions from the layer and is not a qemu machine (runqemu passes them)."""

from __future__ import annotations

from pathlib import Path

# meta-yocto-bsp's machines with MACHINE_FEATURES "efi": the layer's EFI kickstart boots them.
EFI_MACHINES = frozenset({"genericx86-64", "genericx86", "genericarm64"})
ARGS_PREFIX = "# Kernel arguments: "


def kernel_arguments_of(layer: Path) -> str | None:
    """The kernel arguments the layer's Aos kickstarts name, or None without Aos."""
    for wks in sorted([*layer.glob("wic/aos-multinode-aos-*-disk.wks.in"),
                       *layer.glob("files/wic/aos-multinode-aos-*-disk.wks.in")]):
        for line in wks.read_text(encoding="utf-8").splitlines():
            if line.startswith(ARGS_PREFIX):
                return line[len(ARGS_PREFIX):]
    return None


def bootloader_notes(layer: Path, nodes: list[tuple[str, str]]) -> list[str]:
    """Return one line per (node, MACHINE) whose own bootloader must pass the Aos kernel
    arguments; empty without Aos or when the layer boots every node itself."""
    args = kernel_arguments_of(layer)
    if args is None:
        return []
    # meta-raspberrypi's boards boot through the layer's -rpi kickstart (cmdline.txt and
    # config.txt carry the arguments and the initramfs) when the layer has one.
    rpi = any(layer.glob("wic/aos-multinode-aos-*-rpi.wks.in")) or \
        any(layer.glob("files/wic/aos-multinode-aos-*-rpi.wks.in"))
    return [f"{node} ({machine}): unless {machine}'s MACHINE_FEATURES has efi, its bootloader "
            f"must load the kernel with the initramfs aos-image-initramfs-{machine}.rootfs."
            f"cpio.gz and pass: {args}"
            for node, machine in nodes
            if machine not in EFI_MACHINES and not machine.startswith("qemu")
            and not (rpi and machine.startswith("raspberrypi"))]
