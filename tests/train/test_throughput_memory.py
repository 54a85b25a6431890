"""FLOPs from the real shape (PaLM 6N + 12LHQT), the matmul probe, MFU, and the memory estimate."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

from codelm.errors import ConfigError
from codelm.train import train
from codelm.train.memory import GiB, check_fits, estimate_memory
from codelm.train.throughput import (
    Meter,
    batch_flops,
    flops_per_token,
    measure_peak_flops,
    model_shape,
)


def _llama() -> torch.nn.Module:
    cfg = LlamaConfig(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    with torch.device("meta"):
        return LlamaForCausalLM(cfg)


def test_decoder_flops_count_every_matmul_once():
    shape = model_shape(_llama(), "decoder")
    # per layer: q 32·32 + k 32·16 + v 32·16 + o 32·32 + MLP 3·32·64; plus the (tied) 512×32 output projection
    per_layer = 32 * 32 + 32 * 16 + 32 * 16 + 32 * 32 + 3 * 32 * 64
    assert shape.n_matmul == 2 * per_layer + 512 * 32
    assert (shape.layers, shape.heads, shape.head_dim) == (2, 4, 8)
    assert flops_per_token(shape, 64) == 6 * shape.n_matmul + 12 * 2 * 32 * 64
    batch = {"input_ids": torch.zeros(3, 64, dtype=torch.long)}
    assert batch_flops(shape, batch) == 3 * 64 * flops_per_token(shape, 64)


def test_encoder_decoder_flops_split_encoder_and_decoder_tokens():
    cfg = T5Config(vocab_size=256, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=1, num_heads=4)
    with torch.device("meta"):
        model = T5ForConditionalGeneration(cfg)
    shape = model_shape(model, "encdec")
    attn = 32 * 8 * 4  # q, k, v, o are d_model × heads·d_kv
    enc_layer = 4 * attn + 2 * 32 * 64  # T5 v1.0 ReLU MLP: wi, wo
    dec_layer = 8 * attn + 2 * 32 * 64  # self- and cross-attention
    assert shape.n_matmul_encoder == 2 * enc_layer
    assert shape.n_matmul_decoder == dec_layer + 256 * 32
    B, Te, Td = 2, 20, 6
    batch = {"input_ids": torch.zeros(B, Te, dtype=torch.long), "labels": torch.zeros(B, Td, dtype=torch.long)}
    expected = 6 * B * (shape.n_matmul_encoder * Te + shape.n_matmul_decoder * Td) + 12 * 32 * B * (
        2 * Te * Te + 1 * (Td * Td + Td * Te)
    )
    assert batch_flops(shape, batch) == expected


def test_matmul_probe_is_positive_and_leaves_the_global_rng_alone():
    torch.manual_seed(5)
    before = torch.get_rng_state()
    peak = measure_peak_flops(torch.device("cpu"), torch.float32, seconds=0.01, size=128)
    assert peak > 1e6
    assert torch.equal(torch.get_rng_state(), before)


def test_meter_windows_and_totals():
    meter = Meter()
    meter.add(1000, 4e9, 2.0)
    assert meter.window(peak=4e9) == {"tokens_per_s": 500.0, "flops_per_s": 2e9, "mfu": 0.5}
    meter.add(3000, 4e9, 2.0)
    meter.window(peak=4e9)
    assert meter.totals(peak=4e9) == {"tokens": 4000, "train_seconds": 4.0, "tokens_per_s": 1000.0,
                                      "flops_per_s": 2e9, "mfu": 0.5}


def test_memory_estimate_parts_and_refusal():
    shape = model_shape(_llama(), "decoder")
    est = estimate_memory(shape, micro_batch_size=4, seq_len=64, precision="fp32", gradient_checkpointing=False)
    n = shape.n_params
    assert (est.weights, est.gradients, est.optimizer) == (4 * n, 4 * n, 8 * n)
    per_layer = 64 * 4 * 32 * (34 + 5 * 4 * 64 / 32) * 2  # Korthikanti et al., doubled for fp32
    assert est.activations == pytest.approx(2 * per_layer)
    assert est.logits == 4 * 64 * 512 * (4 + 8)
    ckpt = estimate_memory(shape, micro_batch_size=4, seq_len=64, precision="fp32", gradient_checkpointing=True)
    assert ckpt.activations < est.activations
    check_fits(est, 1 * GiB, torch.device("cpu"))
    with pytest.raises(ConfigError, match=r"training needs about .* GiB .* but cpu has 0.0 GiB; lower loop.micro_batch_size"):
        check_fits(est, 1024.0, torch.device("cpu"))


def test_train_refuses_before_allocating_when_memory_is_short(make_cfg):
    with pytest.raises(ConfigError, match=r"memory\.check=false to try anyway"):
        train(make_cfg("oom", memory={"limit_gib": 1e-6}))
