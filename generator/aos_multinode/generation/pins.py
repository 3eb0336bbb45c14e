"""Known-good revisions per supported Yocto release: the table kas files are pinned from.

The project ships `data/pins.json`; `aos-multinode pin` refreshes a copy of it from the
remotes (GitPython `ls-remote`), and `generate --pins FILE` uses that copy.
"""

from __future__ import annotations

import copy
import json
import re
from importlib import resources
from pathlib import Path
from typing import Callable, Optional

from aos_multinode.errors import UserError
from aos_multinode.unitconfig.source import FileProblem, read_input_file

MAX_PINS_BYTES = 1024 * 1024
# A full commit: exactly 40 lower-case hex digits (always used with fullmatch: `$` alone
# would let a trailing newline through into the kas files).
SHA = re.compile(r"[0-9a-f]{40}")
# A URL or branch lands in the kas files: one line, no spaces or control characters.
_ONE_WORD = re.compile(r"[^\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")


class PinsError(UserError):
    """The pins table is unreadable, incomplete, or a revision cannot be resolved."""


def shipped_pins() -> dict:
    """Return the table shipped with aos-multinode."""
    text = resources.files("aos_multinode").joinpath("data/pins.json").read_text("utf-8")
    return json.loads(text)


def load_pins(path: Optional[Path | str] = None) -> dict:
    """Return the pins table from `path`, or the shipped one; check its shape."""
    if path is None:
        return shipped_pins()
    try:
        table = json.loads(read_input_file(path, MAX_PINS_BYTES, "a pins table (JSON)")
                           .decode("utf-8"))
    except FileProblem as exc:
        raise PinsError(f"{path}: {exc}") from None
    except ValueError as exc:
        raise PinsError(f"{path}: not valid JSON ({exc}); regenerate it with "
                        f"`aos-multinode pin -o {path}`") from None
    problems = check_pins(table)
    if problems:
        raise PinsError(f"{path}: " + "; ".join(problems))
    return table


def check_pins(table: object) -> list[str]:
    """Return what is wrong with the shape of a pins table (empty when fine)."""
    if not isinstance(table, dict) or table.get("format") != 1:
        return ["not an aos-multinode pins table (format 1)"]
    problems = []
    releases = table.get("releases", {})
    if not isinstance(releases, dict):
        return ["releases is not a mapping of Yocto releases"]
    for release, entry in releases.items():
        repos = entry.get("repos") if isinstance(entry, dict) else None
        if not isinstance(repos, dict):
            problems.append(f"releases.{release}.repos is not a mapping of repositories")
            continue
        for name, repo in repos.items():
            if not isinstance(repo, dict):
                problems.append(f"releases.{release}.repos.{name} is not a mapping")
                continue
            for key in ("url", "branch", "commit"):
                if not isinstance(repo.get(key), str) or not repo[key]:
                    problems.append(f"releases.{release}.repos.{name}.{key} is missing")
                elif key != "commit" and not _ONE_WORD.fullmatch(repo[key]):
                    problems.append(f"releases.{release}.repos.{name}.{key} {_show(repo[key])} "
                                    "has spaces, line breaks or control characters")
            if isinstance(repo.get("commit"), str) and repo["commit"] and \
                    not SHA.fullmatch(repo["commit"]):
                problems.append(f"releases.{release}.repos.{name}.commit "
                                f"{_show(repo['commit'])} is not a full SHA (40 lower-case hex "
                                "digits)")
    aos = table.get("meta-aos", {})
    if not isinstance(aos, dict):
        return problems + ["meta-aos is not a mapping"]
    if "meta-aos" in table and (not isinstance(aos.get("url"), str) or not aos["url"]):
        problems.append("meta-aos.url is missing")
    elif isinstance(aos.get("url"), str) and not _ONE_WORD.fullmatch(aos["url"]):
        problems.append(f"meta-aos.url {_show(aos['url'])} has spaces, line breaks or control "
                        "characters")
    tags = aos.get("tags", {})
    if not isinstance(tags, dict):
        return problems + ["meta-aos.tags is not a mapping of tags to commits"]
    for tag, sha in tags.items():
        if not isinstance(sha, str) or not SHA.fullmatch(sha):
            problems.append(f"meta-aos.tags.{tag} is not a full SHA (40 lower-case hex digits)")
    return problems


def _show(text: str) -> str:
    return repr(text) if len(text) <= 60 else f"{text[:57]!r}... ({len(text)} characters)"


def release_repos(table: dict, release: str) -> dict:
    """Return the repositories pinned for Yocto `release` (name -> url, branch, commit)."""
    try:
        return table["releases"][release]["repos"]
    except KeyError:
        raise PinsError(f"the pins table has no revisions for Yocto release '{release}'; run "
                        f"`aos-multinode pin --release {release} -o pins.json` and pass "
                        "--pins pins.json") from None


def pinned_repo(table: dict, release: str, name: str) -> dict:
    """Return the pin of repository `name` for `release`; a table without it is an error."""
    repos = release_repos(table, release)
    if name not in repos:
        raise PinsError(f"the pins table has no '{name}' for Yocto release '{release}' (it "
                        f"has: {', '.join(sorted(repos)) or 'none'}); start from the shipped "
                        f"table: `aos-multinode pin --release {release} -o pins.json`")
    return repos[name]


def aos_url(table: dict) -> str:
    url = table.get("meta-aos", {}).get("url")
    if not url:
        raise PinsError("the pins table has no meta-aos url; start from the shipped table: "
                        "`aos-multinode pin -o pins.json`")
    return url


def aos_commit(table: dict, version: str) -> str:
    """Return the meta-aos commit for `version` (a known tag or a full SHA)."""
    if SHA.fullmatch(version):
        return version
    tags = table.get("meta-aos", {}).get("tags", {})
    if version in tags:
        return tags[version]
    raise PinsError(f"aos.version '{version}' has no known commit (known: "
                    f"{', '.join(sorted(tags)) or 'none'}); run `aos-multinode pin --aos-version "
                    f"{version} -o pins.json` and pass --pins pins.json, or set aos.version to a "
                    "full 40-character commit")


LsRemote = Callable[[str, str], Optional[str]]


def git_ls_remote(url: str, ref: str) -> Optional[str]:
    """Return the commit `ref` (a branch or tag) points to at `url`, or None."""
    import git

    try:
        # Ask for the peeled ref too: an annotated tag's own line names the tag object.
        output = str(git.cmd.Git().ls_remote(url, ref, f"{ref}^{{}}"))
    except git.GitCommandError as exc:
        raise PinsError(f"{url}: git ls-remote failed: {exc.stderr.strip() or exc}") from None
    except git.GitCommandNotFound:
        raise PinsError("git is not installed; `aos-multinode pin` needs it") from None
    # ls-remote matches patterns against the tail of ref names (refs/heads/x/refs/tags/v1
    # matches refs/tags/v1): keep exact names only.
    refs = {}
    for line in output.splitlines():
        sha, _, name = line.partition("\t")
        refs[name.strip()] = sha.strip()
    return refs.get(f"{ref}^{{}}") or refs.get(ref)


def refresh_pins(table: dict, releases: list[str], aos_versions: list[str],
                 urls: dict[str, str], ls_remote: LsRemote = git_ls_remote) -> dict:
    """Return a copy of `table` whose commits are what the remotes' branches and tags point to
    now. `urls` maps a repo name to another URL to ask (a mirror, a local repository)."""
    table = copy.deepcopy(table)
    # A source for a repository the table does not know is a typo, not a mirror to ignore.
    known = {name for release in table.get("releases", {})
             for name in release_repos(table, release)} | {"meta-aos"}
    unknown = sorted(set(urls) - known)
    if unknown:
        raise PinsError(f"--source names {', '.join(unknown)}, which the pins table does not "
                        f"know (known: {', '.join(sorted(known))})")
    for release in releases:
        for name, repo in release_repos(table, release).items():
            url = urls.get(name, repo["url"])
            sha = ls_remote(url, f"refs/heads/{repo['branch']}")
            if sha is None:
                raise PinsError(f"{url}: branch {repo['branch']} not found")
            repo["commit"] = sha
    aos = table.setdefault("meta-aos", {"url": "https://github.com/aosedge/meta-aos",
                                        "tags": {}})
    for version in aos_versions:
        url = urls.get("meta-aos", aos["url"])
        # aos.version may name a tag (the usual case) or a branch; the table records the
        # commit either way, under the name the Unit Config uses.
        sha = ls_remote(url, f"refs/tags/{version}") or ls_remote(url, f"refs/heads/{version}")
        if sha is None:
            raise PinsError(f"{url}: no tag or branch {version}")
        aos.setdefault("tags", {})[version] = sha
    return table


def add_unit_config_repos(table: dict, config) -> list[str]:
    """Add the Unit Config's build.repos that have a branch to the table (under its Yocto
    release), for refresh_pins to resolve; return the names of those without a branch."""
    release = table.setdefault("releases", {}).setdefault(config.yocto_release, {"repos": {}})
    repos = release.setdefault("repos", {})
    skipped = []
    for repo in config.repos:
        if repo.branch is None:
            skipped.append(repo.name)
            continue
        repos[repo.name] = {"url": repo.url, "branch": repo.branch,
                            "commit": repos.get(repo.name, {}).get("commit") or repo.commit
                            or ""}
    return skipped


def dump_pins(table: dict) -> str:
    return json.dumps(table, indent=2, sort_keys=True) + "\n"
