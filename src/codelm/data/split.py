"""Train / validation / test assignment: by repository, or by file for few repositories.

By repository (no repository in two splits, so near-identical sibling files
cannot leak from train into test): repositories are visited in a seeded hash
order and each goes to the split furthest below its target share of
documents. That keeps shares close to the targets even with few, unequal
repositories, where hashing each repository independently would often leave
validation or test empty. By file: a seeded hash of (repo, path) against the
cumulative fractions, so a file's split never depends on other files.
"""

from __future__ import annotations

import xxhash

from codelm.data.config import SplitConfig

SPLIT_ORDER = ("train", "validation", "test")


def _unit(seed: int, *parts: str) -> float:
    """A seeded hash of `parts` mapped to [0, 1)."""
    return xxhash.xxh3_64_intdigest("\0".join(("split", str(seed), *parts)).encode("utf-8")) / 2.0**64


def assign_repos(repo_docs: dict[str, int], cfg: SplitConfig, seed: int) -> dict[str, str]:
    """Repository -> split, greedy on document counts (see module docstring)."""
    targets = {"train": 1.0 - cfg.validation - cfg.test, "validation": cfg.validation, "test": cfg.test}
    filled = dict.fromkeys(SPLIT_ORDER, 0)
    assigned: dict[str, str] = {}
    for repo in sorted(repo_docs, key=lambda r: (_unit(seed, "repo", r), r)):
        size = max(repo_docs[repo], 1)
        after = sum(filled.values()) + size
        # deficit: how many documents the split is short of its share once this repo is placed
        split = max(
            (s for s in SPLIT_ORDER if targets[s] > 0),
            key=lambda s: (targets[s] * after - filled[s], -SPLIT_ORDER.index(s)),
        )
        assigned[repo] = split
        filled[split] += size
    return assigned


class SplitAssigner:
    """Decides every document's split once all repositories are known."""

    def __init__(self, cfg: SplitConfig, seed: int, repo_docs: dict[str, int]) -> None:
        self.cfg, self.seed = cfg, seed
        self.by = cfg.by if cfg.by != "auto" else ("repo" if len(repo_docs) >= cfg.min_repos else "file")
        self.repo_split = assign_repos(repo_docs, cfg, seed) if self.by == "repo" else {}

    def __call__(self, repo: str, key: str) -> str:
        """The split of a document of `repo`; `key` is its path (or a commit id)."""
        if self.by == "repo" and repo in self.repo_split:
            return self.repo_split[repo]
        u = _unit(self.seed, repo, key)
        if u < self.cfg.test:
            return "test"
        if u < self.cfg.test + self.cfg.validation:
            return "validation"
        return "train"
