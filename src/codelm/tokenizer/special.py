"""The special tokens every codelm tokenizer carries, in id order.

Ids are fixed by position (0, 1, 2, ...) so objectives, checkpoints and IDE
clients agree on them. Spellings follow StarCoder for FIM and repository
tokens (IDE clients such as Continue and Tabby fall back to exactly these),
T5 for sentinels and UL2 for mode tokens.
"""

from __future__ import annotations

EOS = "<|endoftext|>"
PAD = "<pad>"
MASK = "<mask>"
CLS = "<cls>"
SEP = "<sep>"
FIM_PREFIX = "<fim_prefix>"
FIM_MIDDLE = "<fim_middle>"
FIM_SUFFIX = "<fim_suffix>"
FIM_PAD = "<fim_pad>"
FILE_SEP = "<file_sep>"
REPO_NAME = "<repo_name>"
COMMIT_BEFORE = "<commit_before>"
COMMIT_MSG = "<commit_msg>"
COMMIT_AFTER = "<commit_after>"
MODE_NLU = "[NLU]"  # UL2 R-denoisers
MODE_NLG = "[NLG]"  # UL2 X-denoisers
MODE_S2S = "[S2S]"  # UL2 S-denoiser (prefix LM)
NUM_SENTINELS = 100


def sentinel(i: int) -> str:
    """T5 sentinel `<extra_id_i>`; span corruption uses them in order 0, 1, 2, ..."""
    if not 0 <= i < NUM_SENTINELS:
        raise ValueError(f"sentinel index {i} outside 0..{NUM_SENTINELS - 1}")
    return f"<extra_id_{i}>"


SPECIAL_TOKENS: list[str] = [
    EOS, PAD, MASK, CLS, SEP,
    FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD,
    FILE_SEP, REPO_NAME,
    COMMIT_BEFORE, COMMIT_MSG, COMMIT_AFTER,
    MODE_NLU, MODE_NLG, MODE_S2S,
    *(sentinel(i) for i in range(NUM_SENTINELS)),
]

# Ids follow from the order above; derived, never typed twice.
SPECIAL_IDS: dict[str, int] = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
EOS_ID = SPECIAL_IDS[EOS]  # 0: end of document, also BOS for decoders (as GPT-2/StarCoder)
PAD_ID = SPECIAL_IDS[PAD]  # 1: padding; T5's decoder_start_token
MASK_ID = SPECIAL_IDS[MASK]  # 2
CLS_ID = SPECIAL_IDS[CLS]  # 3
SEP_ID = SPECIAL_IDS[SEP]  # 4
NUM_SPECIAL = len(SPECIAL_TOKENS)  # 117: ordinary tokens start at this id


def sentinel_id(i: int) -> int:
    """Id of `<extra_id_i>` in every codelm tokenizer."""
    return SPECIAL_IDS[sentinel(i)]
