"""`codelm models`: the shipped model presets with exact sizes and memory."""

from __future__ import annotations

from typing import Annotated

import typer

from codelm.cli.common import JsonOpt, Output, QuietOpt, SetOpt


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models_cmd(
        name: Annotated[str | None, typer.Argument(help="Show one preset in detail (e.g. decoder-small).")] = None,
        family: Annotated[str | None, typer.Option(help="Only this family: decoder, encoder or encdec.")] = None,
        vocab_size: Annotated[int, typer.Option("--vocab-size", help="Vocabulary to count embeddings with.")] = 32768,
        set_: SetOpt = None,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """List model presets: exact parameter counts (meta-device build, nothing allocated) and memory.

        Memory columns: weights in fp32 and bf16, and AdamW training state (16 bytes/param, before
        activations). With NAME, `--set key=value` overrides that preset's dimensions.
        """
        from codelm.config import parse_overrides, validate
        from codelm.errors import ConfigError
        from codelm.models.build import model_info, preset_infos
        from codelm.models.config import FAMILY_NAMES, ModelConfig

        out = Output(json_out, quiet)
        if family is not None and family not in FAMILY_NAMES:
            raise ConfigError(f"--family '{family}' is unknown; known: {', '.join(FAMILY_NAMES)}")
        if vocab_size < 1:
            raise ConfigError(f"--vocab-size must be positive, got {vocab_size}")
        if name is not None:
            overrides = parse_overrides(set_ or [])
            cfg = validate(ModelConfig, {**overrides, "preset": name}, [("--set", overrides)])
            resolved = cfg.resolve()
            from codelm.models.families import FAMILIES
            from codelm.presets import find_preset

            info = model_info(cfg, vocab_size, name=name, description=find_preset(name, "model").description)
            spec = FAMILIES.get(str(resolved.family))
            data = {
                **info.to_dict(),
                "config": resolved.model_dump(mode="json", exclude_none=True),
                "transformers_class": spec.classes["lm"],
                "load_with": spec.auto_classes["lm"],
                "init": spec.init_note,
            }
            human = "\n".join(f"{k}: {v}" for k, v in data.items() if k != "config")
            human += "\n" + "\n".join(f"  {k}: {v}" for k, v in data["config"].items())
            out.result(data, human=human)
            return
        if set_:
            raise ConfigError("--set needs a preset NAME to apply to (e.g. `codelm models decoder-small --set num_layers=8`)")
        infos = preset_infos(vocab_size, family)
        rows = [i.to_dict() for i in infos]
        if out.json_mode:
            out.result({"vocab_size": vocab_size, "presets": rows})
            return
        # Plain fixed-width text: stays aligned in pipes and narrow terminals.
        header = ("preset", "params", "non-emb", "layers", "d", "heads", "fp32 GiB", "bf16 GiB", "AdamW GiB")
        lines = []
        for r in rows:
            heads = f"{r['heads']}/{r['kv_heads']}" if r["kv_heads"] and r["kv_heads"] != r["heads"] else str(r["heads"])
            lines.append((
                r["name"], f"{r['parameters']:,}", f"{r['non_embedding_parameters']:,}", str(r["layers"]),
                str(r["hidden_size"]), heads, f"{r['fp32_gib']:.3f}", f"{r['bf16_gib']:.3f}", f"{r['adamw_train_gib']:.2f}",
            ))
        widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
        text = "\n".join(
            "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
            for row in [header, *lines]
        )
        print(text)
        out.info(f"counts at vocabulary {vocab_size}; heads q/kv where grouped-query")
