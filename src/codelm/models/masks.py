"""4-D attention masks: unified prefix-LM (UniLM) and packed documents for the decoder.

transformers 5 passes a 4-D `attention_mask` of shape [B, 1, T, T] through
unchanged (`masking_utils._preprocess_mask_arguments` returns early for any
4-D tensor), so a `LlamaForCausalLM` becomes a prefix LM (Dong et al. 2019,
UniLM; the S-denoiser of UL2) by the mask alone: tokens of the prefix see the
whole prefix, tokens after it see the prefix and their own past. No model
change, and the checkpoint stays a plain Llama.

The mask is *additive* (0 where attention is allowed, the dtype's minimum
where it is not) because that is the one form every attention backend
accepts: SDPA takes it as `attn_mask`, eager attention adds it to the scores.
A boolean mask would be added as 0/1 by the eager path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def allowed_4d(
    attention_mask: torch.Tensor,
    *,
    prefix_mask: torch.Tensor | None = None,
    segment_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Boolean [B, 1, T, T]: may query position q attend to key position k?

    attention_mask: [B, T], 1 for real tokens, 0 for padding (keys only).
    prefix_mask: [B, T] bool, True on tokens in a bidirectional prefix.
    segment_ids: [B, T] int, packed documents; attention never crosses them.
    allowed[b, q, k] = real[k] & same_segment[q, k] & (k <= q | prefix[k]).
    The diagonal is always allowed so no row is empty (an all-masked row
    would give NaN in SDPA; padded rows are ignored by the loss anyway).
    """
    import torch

    B, T = attention_mask.shape
    device = attention_mask.device
    q = torch.arange(T, device=device)
    causal = q[None, :] <= q[:, None]  # [T(q), T(k)]: k <= q
    allowed = causal[None].expand(B, T, T)
    if prefix_mask is not None:
        # a key inside the prefix is visible to every query of its sequence
        allowed = allowed | prefix_mask.bool()[:, None, :]
    allowed = allowed & attention_mask.bool()[:, None, :]
    if segment_ids is not None:
        allowed = allowed & (segment_ids[:, :, None] == segment_ids[:, None, :])
    allowed = allowed | torch.eye(T, dtype=torch.bool, device=device)[None]
    return allowed[:, None]  # [B, 1, T, T]: one mask shared by all heads


def to_additive(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """0 where allowed, the dtype's most negative finite value elsewhere."""
    import torch

    mask = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    return mask.masked_fill(~allowed, torch.finfo(dtype).min)


def prefix_lm_mask(
    prefix_lengths: torch.Tensor,
    attention_mask: torch.Tensor,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Additive [B, 1, T, T] prefix-LM mask for right-padded batches.

    prefix_lengths: [B], number of leading tokens that attend bidirectionally
    (0 gives a plain causal mask). Pass the result as `attention_mask=` to a
    decoder-family model; use the model's dtype (`model.dtype`) for `dtype`.
    """
    import torch

    T = attention_mask.shape[1]
    positions = torch.arange(T, device=attention_mask.device)
    prefix = positions[None, :] < prefix_lengths.to(attention_mask.device)[:, None]  # [B, T]
    allowed = allowed_4d(attention_mask, prefix_mask=prefix)
    return to_additive(allowed, dtype or torch.float32)


def document_mask(
    segment_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    prefix_mask: torch.Tensor | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Additive [B, 1, T, T] causal mask that keeps packed documents apart.

    segment_ids: [B, T], a different integer per packed document. With
    `prefix_mask` each document may also have its own bidirectional prefix.
    """
    import torch

    if attention_mask is None:
        attention_mask = torch.ones_like(segment_ids)
    allowed = allowed_4d(attention_mask, prefix_mask=prefix_mask, segment_ids=segment_ids)
    return to_additive(allowed, dtype or torch.float32)
