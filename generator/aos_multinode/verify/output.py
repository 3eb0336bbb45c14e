"""The text report of a verify run (the JSON one is VerifyResult.as_dict)."""

from __future__ import annotations

from aos_multinode.contract import LAYER_DIR
from aos_multinode.verify import aos_boot, sharing
from aos_multinode.verify.run import VerifyResult

MAX_SHOWN_ELSEWHERE = 12
# --- text ---------------------------------------------------------------------------------

def format_result(result: VerifyResult, verbose: bool = False) -> str:
    """Return the human report: what ran, the problems (generated layer first), sharing."""
    lines = [f"BitBake {result.version} ({result.bitbake}); settings from "
             f"{result.settings.source}; DISTRO {result.settings.distro or '(as configured)'}"]
    for run in result.runs:
        steps = ", ".join(f"{' '.join(s.command[1:-1])} {'ok' if s.exit_code == 0 else 'FAILED'}"
                          f" {s.seconds:.0f} s" for s in run.steps)
        size = (f"; {run.graph_tasks:,} tasks in the image's graph, {run.recipes} recipes"
                if run.graph_tasks is not None else "")
        lines.append(f"  {run.node.node} ({run.node.machine}): {steps}{size}")
        lines += [f"    full output: {s.log}" for s in run.steps if s.exit_code and s.log]
    notes = aos_boot.bootloader_notes(result.layer, [(r.node.node, r.node.machine)
                                                     for r in result.runs])
    if notes:
        lines += ["Aos boot (a bootloader this layer does not own):"] + [f"  {n}" for n in notes]
    lines.append("")
    lines += _findings_text(result, verbose)
    if result.report is not None:
        lines += ["", sharing.format_report(result.report)]
    if result.sharing_note:
        lines.append(f"Sharing report: {result.sharing_note}")
    counts = result.counts()
    lines += ["", ("Problems found: " if result.problems else "OK: ")
              + f"{counts['errors_in_layer']} error(s) and {counts['warnings_in_layer']} "
              f"warning(s) in {LAYER_DIR}; {counts['errors_elsewhere']} error(s) and "
              f"{counts['warnings_elsewhere']} warning(s) elsewhere"]
    return "\n".join(lines)


def _findings_text(result: VerifyResult, verbose: bool) -> list[str]:
    ours = [f for f in result.findings if f.ours]
    other = [f for f in result.findings if not f.ours]
    lines = []
    if ours:
        lines.append(f"In {LAYER_DIR}:")
        lines += ["  " + f.format(full=True) for f in ours]
    else:
        lines.append(f"No BitBake errors or warnings concern {LAYER_DIR}.")
    if other:
        shown = other if verbose else other[:MAX_SHOWN_ELSEWHERE]
        lines.append("Elsewhere (other layers, the configuration or the host):")
        lines += ["  " + f.format(full=verbose) for f in shown]
        if len(shown) < len(other):
            lines.append(f"  ... {len(other) - len(shown)} more (-v or --json shows them all; "
                         "often a consequence of the first ones)")
    return lines

