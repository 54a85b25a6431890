from __future__ import annotations

import json

import pytest
import torch

from codelm.errors import ConfigError
from codelm.models import EmbeddingModel, ModelConfig, build_model, pool
from codelm.models.heads import read_pooling_config

VOCAB = 400


def test_pool_exact_values():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [[7.0, 8.0], [9.0, 10.0], [0.0, 0.0]]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    assert pool(hidden, mask, "mean").tolist() == [[3.0, 4.0], [8.0, 9.0]]
    assert pool(hidden, mask, "cls").tolist() == [[1.0, 2.0], [7.0, 8.0]]
    assert pool(hidden, mask, "last").tolist() == [[5.0, 6.0], [9.0, 10.0]]
    left_padded = torch.tensor([[1, 1, 1], [0, 1, 1]])
    assert pool(hidden, left_padded, "last").tolist() == [[5.0, 6.0], [0.0, 0.0]]
    with pytest.raises(ConfigError, match="unknown pooling 'max'"):
        pool(hidden, mask, "max")


@pytest.mark.parametrize(("family", "pooling"), [("decoder", "last"), ("encoder", "cls"), ("encdec", "mean")])
def test_embedding_model_save_load(tmp_path, family, pooling):
    base = build_model(ModelConfig(preset=f"{family}-tiny", hidden_size=64, num_layers=2), VOCAB, head="embedding")
    emb = EmbeddingModel(base, pooling=pooling)
    ids = torch.tensor([[200, 201, 202, 0], [300, 301, 0, 1]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    with torch.no_grad():
        vectors = emb(ids, mask)
    assert vectors.shape == (2, 64)
    assert torch.allclose(vectors.norm(dim=-1), torch.ones(2), atol=1e-6)
    emb.save_pretrained(tmp_path / "emb")
    assert read_pooling_config(tmp_path / "emb") == (pooling, True)
    st = json.loads((tmp_path / "emb" / "1_Pooling" / "config.json").read_text())
    assert st["word_embedding_dimension"] == 64
    key = {"last": "pooling_mode_lasttoken", "cls": "pooling_mode_cls_token", "mean": "pooling_mode_mean_tokens"}
    assert [k for k, v in st.items() if v is True and k.startswith("pooling_mode")] == [key[pooling]]
    again = EmbeddingModel.from_pretrained(tmp_path / "emb")
    assert type(again.model).__name__ == type(base).__name__
    with torch.no_grad():
        assert (again(ids, mask) - vectors).abs().max().item() <= 1e-6


def test_cls_pooling_rejected_for_decoder():
    base = build_model(ModelConfig(preset="decoder-tiny", hidden_size=64, num_layers=1), VOCAB, head="embedding")
    with pytest.raises(ConfigError, match="causal decoder"):
        EmbeddingModel(base, pooling="cls")


def test_classification_heads_use_config_pooling_and_labels():
    cfg = ModelConfig(preset="encoder-tiny", hidden_size=64, num_layers=2, pooling="cls")
    model = build_model(cfg, VOCAB, head="sequence_classification", id2label={0: "bug", 1: "ok"})
    assert model.config.classifier_pooling == "cls"
    assert model.config.num_labels == 2 and model.config.label2id == {"bug": 0, "ok": 1}
    tokens = build_model(ModelConfig(preset="decoder-tiny", hidden_size=64, num_layers=1), VOCAB, head="token_classification", num_labels=5)
    with torch.no_grad():
        out = tokens(input_ids=torch.tensor([[200, 201, 202]]), labels=torch.tensor([[0, 4, 2]]))
    assert out.logits.shape == (1, 3, 5) and out.loss.item() > 0
