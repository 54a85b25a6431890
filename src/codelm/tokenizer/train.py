"""Train a code-aware byte-level BPE tokenizer with HF `tokenizers`.

The result is a plain `transformers` fast tokenizer: a saved directory loads
with `AutoTokenizer.from_pretrained(dir)` and no codelm import. Choices, and
why:

- byte-level BPE: every byte sequence is encodable, so there is no unknown
  token and `decode(encode(x)) == x` for any text;
- no normaliser and `clean_up_tokenization_spaces=False`: the two places
  where HF tokenizers silently change text (`" ."` → `"."`) are off;
- special tokens are added before training, so they take ids 0..116 in the
  order of `codelm.tokenizer.special.SPECIAL_TOKENS` and are never split;
- no template: encoding adds no BOS/EOS/CLS. Objectives place special
  tokens themselves (FIM, span corruption and packing each need a different
  layout), so an automatic one would only be in the way;
- offsets are kept exact (`trim_offsets=False`) so objectives can map tokens
  back to characters (`return_offsets_mapping=True`) to find identifiers.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from codelm.config import Section
from codelm.errors import ConfigError, InputError
from codelm.tokenizer.special import CLS, EOS, MASK, NUM_SPECIAL, PAD, SEP, SPECIAL_TOKENS

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

# The byte alphabet (256 symbols) must fit next to the special tokens.
MIN_VOCAB_SIZE = NUM_SPECIAL + 256


class TokenizerConfig(Section):
    """Config of `codelm tokenizer train` (kind `tokenizer`)."""

    data: Path | None = Field(None, description="corpus directory (DIR/<split>/part-*.parquet)")
    out: Path | None = Field(None, description="directory to write the tokenizer to")
    vocab_size: int = Field(32768, ge=MIN_VOCAB_SIZE, description="total size, special tokens included")
    min_frequency: int = Field(2, ge=1, description="a pair merges only if seen this often")
    code_aware: bool = Field(True, description="code pre-tokenization; false = GPT-2 regex")
    max_token_length: int | None = Field(None, ge=1, description="longest token in characters")
    max_train_bytes: int | None = Field(
        None, ge=1, description="train on a seeded random sample of documents up to this size"
    )
    seed: int = Field(0, description="seed of the document sample (BPE training itself is deterministic)")
    train_split: str = "train"
    eval_split: str = Field("validation", description="split for bytes/token and round-trip report")
    verify_roundtrip: bool = Field(True, description="check decode(encode(x)) == x on every document read")
    model_max_length: int | None = Field(None, ge=1, description="stored in tokenizer_config.json")


def wrap_tokenizer(backend: Any, model_max_length: int | None = None) -> PreTrainedTokenizerFast:
    """Wrap a `tokenizers.Tokenizer` as a transformers fast tokenizer with our special tokens."""
    from transformers import PreTrainedTokenizerFast

    kwargs: dict[str, Any] = {}
    if model_max_length is not None:
        kwargs["model_max_length"] = model_max_length
    named = {EOS, PAD, MASK, CLS, SEP}
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=EOS,  # decoders start documents with <|endoftext|>, as GPT-2/StarCoder
        eos_token=EOS,
        pad_token=PAD,
        mask_token=MASK,
        cls_token=CLS,
        sep_token=SEP,
        extra_special_tokens=[t for t in SPECIAL_TOKENS if t not in named],
        clean_up_tokenization_spaces=False,
        padding_side="right",
        **kwargs,
    )


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int,
    *,
    min_frequency: int = 2,
    code_aware: bool = True,
    max_token_length: int | None = None,
    model_max_length: int | None = None,
    length: int | None = None,
) -> PreTrainedTokenizerFast:
    """Train byte-level BPE on `texts` and return it as a transformers fast tokenizer.

    `vocab_size` counts everything: 117 special tokens, 256 bytes, then
    merges. `length` (number of texts) only feeds the trainer's progress
    estimate. Training is deterministic for the same texts in the same order.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    from codelm.tokenizer.pretokenize import build_pre_tokenizer

    if vocab_size < MIN_VOCAB_SIZE:
        raise ConfigError(
            f"vocab_size {vocab_size} is too small: at least {MIN_VOCAB_SIZE} "
            f"({NUM_SPECIAL} special tokens + 256 bytes); raise --vocab-size"
        )
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = build_pre_tokenizer(code_aware)
    backend.decoder = decoders.ByteLevel()
    # trim_offsets=False: offsets cover the token's characters exactly,
    # leading spaces included, so offsets of consecutive tokens tile the text.
    backend.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),  # ids 0..116, in this order
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes
        max_token_length=max_token_length,
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer, length=length)
    tokenizer = wrap_tokenizer(backend, model_max_length)
    check_special_tokens(tokenizer)
    return tokenizer


def check_special_tokens(tokenizer: Any) -> None:
    """Fail loudly if a tokenizer does not carry our special tokens at their fixed ids."""
    vocab = tokenizer.get_vocab()
    wrong = [(t, i, vocab.get(t)) for i, t in enumerate(SPECIAL_TOKENS) if vocab.get(t) != i]
    if wrong:
        token, want, got = wrong[0]
        raise InputError(
            f"tokenizer has '{token}' at id {got}, expected {want} ({len(wrong)} special tokens misplaced); "
            "train it with `codelm tokenizer train`"
        )


def save_tokenizer(tokenizer: Any, out_dir: str | Path) -> Path:
    """Save so that `AutoTokenizer.from_pretrained(out_dir)` loads it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(out))
    return out


def load_tokenizer(path: str | Path, *, strict: bool = True) -> PreTrainedTokenizerFast:
    """Load a tokenizer directory with plain `AutoTokenizer`.

    `strict` checks that it carries codelm's special tokens at their fixed
    ids; pass False for a foreign tokenizer (fine-tuning someone else's model).
    """
    from transformers import AutoTokenizer

    path = Path(path)
    if not (path / "tokenizer.json").is_file():
        raise InputError(
            f"'{path}' is not a tokenizer directory (no tokenizer.json); train one with `codelm tokenizer train`"
        )
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if strict:
        check_special_tokens(tokenizer)
    return tokenizer


def roundtrip_ok(tokenizer: Any, text: str) -> bool:
    """decode(encode(x)) == x, special-token spellings in `x` included."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False) == text


@dataclass
class EncodeStats:
    """Bytes per token and round-trip result over a set of documents."""

    documents: int = 0
    bytes: int = 0
    tokens: int = 0
    roundtrip_failures: int = 0
    failed: list[str] = field(default_factory=list)  # first few failing names

    @property
    def bytes_per_token(self) -> float:
        return self.bytes / self.tokens if self.tokens else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bytes_per_token": round(self.bytes_per_token, 4)}


def encode_stats(
    tokenizer: Any,
    docs: Iterable[tuple[str, str]],
    *,
    verify_roundtrip: bool = True,
    batch_size: int = 64,
    on_batch: Callable[[int], None] | None = None,
) -> EncodeStats:
    """Encode `(name, text)` pairs in batches; count bytes, tokens and round-trip failures."""
    backend = tokenizer.backend_tokenizer
    stats = EncodeStats()

    def flush(batch: list[tuple[str, str]]) -> None:
        encodings = backend.encode_batch([text for _, text in batch], add_special_tokens=False)
        for (name, text), enc in zip(batch, encodings, strict=True):
            stats.documents += 1
            stats.bytes += len(text.encode("utf-8"))
            stats.tokens += len(enc.ids)
            if verify_roundtrip and backend.decode(enc.ids, skip_special_tokens=False) != text:
                stats.roundtrip_failures += 1
                if len(stats.failed) < 10:
                    stats.failed.append(name)
        if on_batch is not None:
            on_batch(len(batch))

    batch: list[tuple[str, str]] = []
    for item in docs:
        batch.append(item)
        if len(batch) >= batch_size:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    return stats


def _sample_indices(corpus: Path, split: str, max_bytes: int, seed: int) -> set[int] | None:
    """Row numbers of a seeded random sample of documents totalling ≤ `max_bytes` (None = all)."""
    from codelm.data.corpus import iter_documents

    sizes = [row["size"] for row in iter_documents(corpus, split, columns=("size",))]
    if sum(sizes) <= max_bytes:
        return None
    order = list(range(len(sizes)))
    random.Random(seed).shuffle(order)
    chosen: set[int] = set()
    total = 0
    for i in order:
        if total + sizes[i] > max_bytes and chosen:
            continue
        chosen.add(i)
        total += sizes[i]
    return chosen


def _corpus_texts(corpus: Path, split: str, keep: set[int] | None) -> Iterator[tuple[str, str]]:
    from codelm.data.corpus import iter_documents

    for i, row in enumerate(iter_documents(corpus, split, columns=("repo", "path", "content"))):
        if keep is None or i in keep:
            yield f"{row['repo']}/{row['path']}", row["content"] or ""


@dataclass
class TrainReport:
    """What `train_tokenizer_from_corpus` did, for the CLI and the run directory."""

    out_dir: str
    vocab_size: int
    code_aware: bool
    train_documents: int  # documents the BPE trainer saw (a sample when max_train_bytes is set)
    splits: dict[str, dict[str, Any]]  # split -> EncodeStats.to_dict()
    eval_split: str | None
    seconds: float

    @property
    def bytes_per_token(self) -> float | None:
        return self.splits[self.eval_split]["bytes_per_token"] if self.eval_split else None

    @property
    def roundtrip_failures(self) -> int:
        return sum(s["roundtrip_failures"] for s in self.splits.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "bytes_per_token": self.bytes_per_token,
            "roundtrip_failures": self.roundtrip_failures,
        }


def train_tokenizer_from_corpus(
    corpus_dir: str | Path,
    vocab_size: int = 32768,
    out_dir: str | Path | None = None,
    *,
    config: TokenizerConfig | None = None,
) -> tuple[PreTrainedTokenizerFast, TrainReport]:
    """Train on the corpus's train split, save to `out_dir`, report bytes/token on the eval split.

    Every document of every split is then checked for an exact round trip: a
    failure is counted and named in the report, never silently ignored.
    `config` supplies the other knobs; its `data`/`out`/`vocab_size` are
    overridden by the explicit arguments.
    """
    from codelm import progress
    from codelm.data.corpus import SPLITS, count_documents, split_files

    cfg = (config or TokenizerConfig()).model_copy(
        update={"data": Path(corpus_dir), "vocab_size": vocab_size, "out": Path(out_dir) if out_dir else None}
    )
    corpus = Path(corpus_dir)
    split_files(corpus, cfg.train_split)  # a missing corpus/split is an InputError here, not mid-training
    start = time.perf_counter()
    keep = (
        _sample_indices(corpus, cfg.train_split, cfg.max_train_bytes, cfg.seed) if cfg.max_train_bytes else None
    )
    n_train = len(keep) if keep is not None else count_documents(corpus, cfg.train_split)

    with progress.progress_bar("training tokenizer", total=n_train) as bar:

        def texts() -> Iterator[str]:
            for _, text in _corpus_texts(corpus, cfg.train_split, keep):
                bar.advance()
                yield text

        tokenizer = train_tokenizer(
            texts(),
            cfg.vocab_size,
            min_frequency=cfg.min_frequency,
            code_aware=cfg.code_aware,
            max_token_length=cfg.max_token_length,
            model_max_length=cfg.model_max_length,
            length=n_train,
        )

    # Round trip on every document of every split (the train split in full,
    # even when training used a sample); bytes/token from the eval split.
    split_stats: dict[str, dict[str, Any]] = {}
    for split in [s for s in SPLITS if any((corpus / s).glob("*.parquet"))]:
        with progress.progress_bar(f"checking {split}", total=count_documents(corpus, split)) as bar:
            stats = encode_stats(
                tokenizer,
                _corpus_texts(corpus, split, None),
                verify_roundtrip=cfg.verify_roundtrip,
                on_batch=bar.advance,
            )
        split_stats[split] = stats.to_dict()

    eval_split = cfg.eval_split if cfg.eval_split in split_stats else None
    report = TrainReport(
        out_dir=str(cfg.out) if cfg.out else "",
        vocab_size=len(tokenizer),
        code_aware=cfg.code_aware,
        train_documents=n_train,
        splits=split_stats,
        eval_split=eval_split,
        seconds=round(time.perf_counter() - start, 3),
    )
    if cfg.out is not None:
        save_tokenizer(tokenizer, cfg.out)
        (cfg.out / "training_report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return tokenizer, report
