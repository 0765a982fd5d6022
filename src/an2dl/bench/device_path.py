"""The single-device speed-ups of the Trainer: mixed precision, channels_last and torch.compile against
float32 in the default layout, for an image model (images/s) and a Transformer (tokens/s).

Every variant trains the same model from the same weights on the same synthetic batches in this process,
through :class:`~an2dl.engine.Trainer` (``precision``, ``channels_last``, ``compile``), on the
accelerator Fabric picks (a CUDA GPU when there is one, else the CPU).  Only steady-state steps are timed: the
warm-up steps (set-up, the first kernels, compilation) are not.  On a GPU the models are ResNet-50 at
224 × 224 and a 6-layer GPT of width 512 over 256 tokens; on a CPU, ResNet-18 at 64 × 64 and a 2-layer GPT of
width 128 over 128 tokens, so that a run ends in minutes (``--quick``: LeNet-5 and a 1-layer GPT, no
compilation, to check the benchmark runs).
"""

from __future__ import annotations

import time
from typing import Any

from . import machine, register_benchmark

__all__ = ["device_path"]

#: variant -> Trainer settings; channels_last only for the image model
VARIANTS: dict[str, dict[str, Any]] = {
    "fp32": {},
    "bf16-mixed": {"precision": "bf16-mixed"},
    "channels_last": {"channels_last": True},
    "bf16-mixed+channels_last": {"precision": "bf16-mixed", "channels_last": True},
    "compiled": {"compile": True},
}


def _throughput(make_task: Any, data: Any, per_sample: int, settings: dict[str, Any], *, batch: int, warmup: int,
                steps: int) -> float:
    """Samples/s times ``per_sample`` (1 image, or the tokens of one sequence) over the timed steps."""
    import torch

    from ..engine import Trainer
    from ..engine.callbacks.base import Callback

    class _Clock(Callback):
        start = end = 0.0

        def on_batch_end(self, trainer: Any, task: Any, *args: Any) -> None:
            if trainer.global_step in (warmup, warmup + steps):
                if trainer.device.type == "cuda":
                    torch.cuda.synchronize()
                if trainer.global_step == warmup:
                    self.start = time.perf_counter()
                else:
                    self.end = time.perf_counter()

    clock = _Clock()
    trainer = Trainer(max_steps=warmup + steps, max_epochs=None, batch_size=batch, drop_last=True, shuffle=False,
                      progress=False, val_every_n_epochs=None, checkpoint=False, callbacks=[clock], **settings)
    trainer.fit(make_task(), data)
    return steps * batch * per_sample / (clock.end - clock.start)


@register_benchmark("device")
def device_path(quick: bool = False) -> dict:
    """Images/s of a ResNet and tokens/s of a GPT for each variant, and each variant's ratio to float32."""
    import torch

    from ..data import ArrayDataset
    from ..engine import OptimizerSpec
    from ..models import get_model
    from ..tasks import ClassificationTask, LanguageModelTask

    gpu = torch.cuda.is_available()
    if quick:
        image = {"model": "lenet5", "channels": 1, "side": 32, "batch": 8}
        text = {"d_model": 32, "num_layers": 1, "num_heads": 2, "seq": 32, "batch": 4}
        warmup, steps, variants = 1, 3, [v for v in VARIANTS if v != "compiled"]
    elif gpu:
        image = {"model": "resnet50", "channels": 3, "side": 224, "batch": 64}
        text = {"d_model": 512, "num_layers": 6, "num_heads": 8, "seq": 256, "batch": 32}
        warmup, steps, variants = 10, 50, list(VARIANTS)
    else:
        image = {"model": "resnet18", "channels": 3, "side": 64, "batch": 32}
        text = {"d_model": 128, "num_layers": 2, "num_heads": 4, "seq": 128, "batch": 16}
        warmup, steps, variants = 3, 15, list(VARIANTS)
    g = torch.Generator().manual_seed(0)
    n_img, n_txt = image["batch"] * (warmup + steps), text["batch"] * (warmup + steps)
    images = ArrayDataset(torch.rand(n_img, image["channels"], image["side"], image["side"], generator=g),
                          torch.randint(0, 10, (n_img,), generator=g))
    tokens = torch.randint(4, 69, (n_txt, text["seq"] + 1), generator=g)
    texts = ArrayDataset(tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous())
    sgd = OptimizerSpec("sgd", lr=0.01, momentum=0.9)

    def image_task() -> Any:
        torch.manual_seed(0)
        return ClassificationTask(get_model(image["model"], num_classes=10), num_classes=10, optimizer=sgd,
                                  compute_train_metrics=False)

    def text_task() -> Any:
        torch.manual_seed(0)
        model = get_model("gpt", max_len=text["seq"], d_model=text["d_model"], num_heads=text["num_heads"],
                          num_layers=text["num_layers"])
        return LanguageModelTask(model, optimizer=OptimizerSpec("adam", lr=1e-3))

    rows: dict[str, dict[str, float]] = {}
    for variant in variants:
        settings = VARIANTS[variant]
        rows[variant] = {"images_per_s": _throughput(image_task, images, 1, settings, batch=image["batch"],
                                                     warmup=warmup, steps=steps)}
        if not settings.get("channels_last"):
            rows[variant]["tokens_per_s"] = _throughput(text_task, texts, text["seq"], settings, batch=text["batch"],
                                                        warmup=warmup, steps=steps)
    base = rows["fp32"]
    print(f"  {image['model']} at {image['side']}x{image['side']}, batch {image['batch']}; GPT width "
          f"{text['d_model']}, {text['num_layers']} layers, {text['seq']} tokens, batch {text['batch']}; "
          f"{steps} timed steps on {'the GPU' if gpu else 'the CPU'}")
    for variant, row in rows.items():
        row.update({f"{k}_ratio": v / base[k] for k, v in list(row.items())})
        cells = [f"{row['images_per_s']:10.1f} images/s (x{row['images_per_s_ratio']:.2f})"]
        if "tokens_per_s" in row:
            cells.append(f"{row['tokens_per_s']:10.0f} tokens/s (x{row['tokens_per_s_ratio']:.2f})")
        print(f"  {variant:26s} " + "   ".join(cells))
    return {"device": "cuda" if gpu else "cpu", "machine": machine(), "image": image, "text": text,
            "steps": steps, "variants": rows}
