"""Causal language modelling with packing.

Documents are tokenised, terminated with `<|endoftext|>` and packed into
windows of `seq_len` tokens (no padding is wasted). With
`document_masking`, each token attends only to earlier tokens of its own
document and positions restart at every document, as if the documents had
been fed one by one (block-diagonal causal mask).

With `repo_level`, the files of one repository become one sequence, in the
StarCoder2 layout `<repo_name>name<file_sep>path\ncode<file_sep>path\ncode...<|endoftext|>`,
so the model learns to use other files of the same project as context.
Files are grouped while reading: consecutive corpus rows with the same
`repo` form one repository (the data pipeline writes a repository's files
together; rows of one repository that are not adjacent become separate
sequences).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from codelm.objectives.base import (
    Batch,
    DocumentSource,
    Example,
    Objective,
    ObjectiveConfig,
    Segment,
    token_id,
)
from codelm.objectives.registry import register
from codelm.objectives.text import encode_text

__all__ = ["CLM", "CLMConfig", "document_attention", "encode_text", "group_by_repo"]


class CLMConfig(ObjectiveConfig):
    name: Literal["clm"] = "clm"
    document_masking: bool = Field(
        False, description="Attend only within each document; positions restart per document."
    )
    repo_level: bool = Field(
        False, description="One sequence per repository: <repo_name>name<file_sep>path\\ncode... (StarCoder2)."
    )
    repo_max_chars: int = Field(
        200_000, ge=1, description="repo_level: a larger repository is split into sequences of whole files."
    )


def group_by_repo(source: DocumentSource, max_chars: int = 200_000) -> DocumentSource:
    """A source whose items are repositories: `{"repo", "files": [{"path", "content"}, ...]}`.

    A repository with more than `max_chars` characters is cut (between files)
    into several items, each with the repository header: a whole repository
    is tokenised and packed before its first window comes out, so one huge
    repository would otherwise stall the stream and fill memory.

    Resuming at repository `start` re-reads the rows before it (no tokenising),
    since a row index of the inner source does not map to a repository index.
    """

    def groups(epoch: int) -> Iterator[dict[str, Any]]:
        for repo, rows in itertools.groupby(source(epoch, 0), key=lambda row: row.get("repo")):
            files: list[dict[str, str]] = []
            size = 0
            for row in rows:
                if files and size + len(row["content"]) > max_chars:
                    yield {"repo": repo, "files": files}
                    files, size = [], 0
                files.append({"path": row.get("path", ""), "content": row["content"]})
                size += len(row["content"])
            if files:
                yield {"repo": repo, "files": files}

    def grouped(epoch: int, start: int) -> Iterator[dict[str, Any]]:
        return itertools.islice(groups(epoch), start, None)

    return grouped


def document_attention(doc_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Block-diagonal causal mask (B, 1, T, T) and per-document positions (B, T).

    `doc_ids[b, t]` numbers the document token t belongs to within its window.
    A bool mask (True = may attend) is what transformers' SDPA path accepts.
    """
    # doc_ids: (B, T)
    same_doc = doc_ids[:, :, None] == doc_ids[:, None, :]  # (B, T, T)
    T = doc_ids.size(1)
    causal = torch.ones(T, T, dtype=torch.bool, device=doc_ids.device).tril()
    mask = (same_doc & causal)[:, None]  # (B, 1, T, T)
    # position = index within its document: t minus the start of t's document
    starts = torch.ones_like(doc_ids, dtype=torch.bool)
    starts[:, 1:] = doc_ids[:, 1:] != doc_ids[:, :-1]
    arange = torch.arange(T, device=doc_ids.device).expand_as(doc_ids)
    start_pos = torch.where(starts, arange, torch.zeros_like(arange)).cummax(dim=1).values
    return mask, arange - start_pos


@register
class CLM(Objective):
    name = "clm"
    families = ("decoder",)
    Config = CLMConfig

    def __init__(self, config: CLMConfig, tokenizer: Any, family: str, seq_len: int) -> None:
        super().__init__(config, tokenizer, family, seq_len)
        if getattr(config, "repo_level", False):
            self.repo_name_id = token_id(tokenizer, "<repo_name>")
            self.file_sep_id = token_id(tokenizer, "<file_sep>")

    def wrap_source(self, source: DocumentSource) -> DocumentSource:
        if not getattr(self.config, "repo_level", False):
            return source
        return group_by_repo(source, self.config.repo_max_chars)

    def encode(self, document: dict[str, Any], rng: np.random.Generator) -> Iterator[Segment]:
        if "files" in document:  # a repository (repo_level)
            yield Segment(self.encode_repository(document))
            return
        ids = [*encode_text(self.tokenizer, document["content"]), self.eos_id]
        yield Segment(ids)

    def encode_repository(
        self, repo: dict[str, Any], encode_file: Callable[[str], list[int]] | None = None
    ) -> list[int]:
        """`<repo_name>name<file_sep>path\ncode ... <|endoftext|>`; special tokens inserted as ids.

        `encode_file` tokenizes each `path\ncode` (FIM rearranges files here).
        """
        encode_file = encode_file or (lambda text: encode_text(self.tokenizer, text))
        ids = [self.repo_name_id, *encode_text(self.tokenizer, str(repo["repo"] or ""))]
        for file in repo["files"]:
            ids.append(self.file_sep_id)
            ids.extend(encode_file(f"{file['path']}\n{file['content']}"))
        ids.append(self.eos_id)
        return ids

    def finish(self, window: Segment, rng: np.random.Generator) -> Example:
        return {"input_ids": window.ids, "labels": list(window.ids), "doc_ids": window.extra["doc_ids"]}

    def collate(self, examples: list[Example]) -> Batch:
        batch = super().collate(examples)
        doc_ids = batch.pop("doc_ids")
        if self.config.document_masking:
            batch["attention_mask"], batch["position_ids"] = document_attention(doc_ids)
        return batch
