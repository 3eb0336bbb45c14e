"""Verifying a generated layer with the user's BitBake: run it, read its messages and task
signatures, and measure how much nodes of one MACHINE share.

One module per job: `layer` (the generated layer read back), `settings` (layers and
local.conf lines for each node's build directory), `host` (can BitBake run here),
`bitbake` (the subprocess and its signals), `messages` (BitBake's output located in the
layer), `signatures` (sigdata read back), `sharing` (the sharing report) and `causes`
(why a task differs), `run` (one node, the whole run), `output` (the text report). Nothing
here prints.
"""

from aos_multinode.verify.bitbake import (Step, clean_environment, interruptible,
                                          run_bitbake, wait_for_server)
from aos_multinode.verify.host import (YOCTO_HOST_PACKAGES, check_host, environment_problem,
                                       utf8_locale_available)
from aos_multinode.verify.layer import VerifyError, find_layer, layer_needs_aos, read_nodes
from aos_multinode.verify.messages import (BitBakeFinding, Message, locate, merge_findings,
                                           ours_offline, parse_messages)
from aos_multinode.verify.output import format_result
from aos_multinode.verify.run import (NodeRun, VerifyOptions, VerifyResult, bblayers_conf,
                                      explain, local_conf, sharing_of, verify)
from aos_multinode.verify.settings import (BuildSettings, bblayers_layers, find_bitbake,
                                           kas_common, kas_layers)
from aos_multinode.verify.sharing import NodeInfo, TaskKey
from aos_multinode.verify.signatures import (collect_signatures, read_sigdata, sigdata_path,
                                             stamps_dir, task_graph_size)

__all__ = ["BitBakeFinding", "BuildSettings", "Message", "NodeInfo", "NodeRun", "Step",
           "TaskKey", "VerifyError", "VerifyOptions", "VerifyResult", "YOCTO_HOST_PACKAGES",
           "bblayers_conf", "bblayers_layers", "check_host", "clean_environment",
           "collect_signatures", "environment_problem", "explain", "find_bitbake",
           "find_layer", "format_result", "interruptible", "kas_common", "kas_layers",
           "layer_needs_aos", "local_conf", "locate", "merge_findings", "ours_offline",
           "parse_messages", "read_nodes", "read_sigdata", "run_bitbake", "sharing_of",
           "sigdata_path", "stamps_dir", "task_graph_size", "utf8_locale_available", "verify",
           "wait_for_server"]
