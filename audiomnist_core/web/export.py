"""The explain graph (:class:`.graph.ExplainGraph`) as ONNX, checked against
:func:`voice.explain_inputs` in ONNX Runtime: the predictions equal, the probabilities within
:data:`PROB_TOL`, the relevance within a cosine of :data:`MIN_COSINE` and a top-1 % overlap of
:data:`MIN_TOP1` on every checked input. Reduced-precision weights are used only where they
pass that check with a margin (:data:`STORAGE_CHOICES`, smallest first)."""
from __future__ import annotations

import io
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from zennit.core import Composite

from ..errors import AudiomnistError
from ..voice import Explanation
from .graph import ExplainGraph

OPSET = 17
INPUT, LOGITS, RELEVANCE = "input", "logits", "relevance"
PROB_TOL = 1e-3  # the page's probabilities against Python's (issue 18)
MIN_COSINE = 0.99  # relevance cosine similarity per recording
MIN_TOP1 = 0.90  # share of the top 1 % most relevant input entries found by both
TOP_FRACTION = 0.01
# The export's own check holds each candidate to a stricter bar, so that the browser's float
# arithmetic (another summation order) keeps within the page's tolerances.
MARGIN = {"prob": 0.5 * PROB_TOL, "cosine": 0.995, "top1": 0.95}
# Candidate weight storages, smallest first: the first that passes the check with the margin is kept.
STORAGE_CHOICES: tuple[tuple[str, dict[str, str]], ...] = (
    ("int8 linear, float16 conv", {"linear": "int8", "conv": "float16"}),
    ("float16", {"linear": "float16", "conv": "float16"}),
    ("float16 linear, float32 conv", {"linear": "float16", "conv": "float32"}),
    ("float32", {"linear": "float32", "conv": "float32"}),
)


@dataclass(frozen=True)
class Agreement:
    """How an exported graph's answers compare with the library's on ``n`` inputs."""

    n: int
    predictions_equal: int  # inputs with the same predicted class
    max_probability_difference: float
    min_cosine: float  # of the relevance, per input
    min_top1_overlap: float  # share of the top 1 % entries in common, per input

    def passes(self, prob: float = PROB_TOL, cosine: float = MIN_COSINE, top1: float = MIN_TOP1) -> bool:
        return (self.predictions_equal == self.n and self.max_probability_difference <= prob
                and self.min_cosine >= cosine and self.min_top1_overlap >= top1)

    def to_dict(self) -> dict:
        return asdict(self)


def top_overlap(a: np.ndarray, b: np.ndarray, fraction: float = TOP_FRACTION) -> np.ndarray:
    """Per row of ``(N, D)`` relevances, the share of the ``round(fraction D)`` largest entries
    of ``a`` that are among the largest of ``b`` as well, ``(N,)``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    k = max(1, round(fraction * a.shape[1]))
    ta, tb = np.argsort(-a, 1, kind="stable")[:, :k], np.argsort(-b, 1, kind="stable")[:, :k]
    return np.array([len(np.intersect1d(x, y)) / k for x, y in zip(ta, tb)])


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of the rows of ``(N, D)`` arrays, ``(N,)`` (1 where both rows are zero)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    both = (na == 0) & (nb == 0)
    return np.where(both, 1.0, (a * b).sum(1) / np.maximum(na * nb, 1e-300))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities of ``(N, C)`` logits, float64."""
    z = np.asarray(logits, np.float64)
    z = np.exp(z - z.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def agreement(logits: np.ndarray, relevance: np.ndarray, reference: Explanation) -> Agreement:
    """:class:`Agreement` of a graph's ``logits`` ``(N, C)`` and ``relevance`` ``(N, ...)`` with
    the library's ``reference`` on the same inputs."""
    n = logits.shape[0]
    a, b = relevance.reshape(n, -1), reference.relevance.reshape(n, -1).numpy()
    return Agreement(
        n, int((logits.argmax(1) == reference.prediction.numpy()).sum()),
        float(np.abs(softmax(logits) - reference.probabilities.double().numpy()).max()),
        float(cosine(a, b).min()), float(top_overlap(a, b).min()),
    )


def onnx_bytes(graph: nn.Module, example: torch.Tensor) -> bytes:
    """``graph`` as an ONNX model (opset :data:`OPSET`, batch axis dynamic), inputs named
    :data:`INPUT`, outputs :data:`LOGITS` and :data:`RELEVANCE`. No constant folding, so that
    only the layers' own (stored) weights are in the file, not the rules' copies of them."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes read as Python numbers
        torch.onnx.export(
            graph.eval(), (example,), buffer, input_names=[INPUT], output_names=[LOGITS, RELEVANCE],
            dynamic_axes={INPUT: {0: "batch"}, LOGITS: {0: "batch"}, RELEVANCE: {0: "batch"}},
            opset_version=OPSET, dynamo=False, do_constant_folding=False,
        )
    return buffer.getvalue()


def run_onnx(model: bytes, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(logits, relevance)`` of an exported graph on ``inputs`` in ONNX Runtime (CPU)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise AudiomnistError("onnxruntime is missing; install the web extra: pip install -e '.[web]'") from None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    logits, rel = session.run([LOGITS, RELEVANCE], {INPUT: np.ascontiguousarray(inputs, dtype=np.float32)})
    return logits, rel


@dataclass
class Exported:
    """An exported graph: the ONNX ``model``, the weight ``storage`` chosen and its
    :class:`Agreement` with the library in ONNX Runtime, with each tried storage's in torch
    (``tried``; the chosen one's in ONNX Runtime, with its ``bytes``)."""

    model: bytes
    storage: str
    agreement: Agreement
    tried: dict[str, dict]


def export_explainer(net: nn.Module, composite: Composite, inputs: torch.Tensor, reference: Explanation,
                     choices: tuple[tuple[str, dict[str, str]], ...] = STORAGE_CHOICES) -> Exported:
    """The smallest storage of ``choices`` whose graph agrees with ``reference`` (the library's
    explanation of ``inputs``) within :data:`MARGIN`, exported and checked again in ONNX Runtime,
    where it must hold the page's own tolerances. Candidates are tried in torch (the same graph
    and weights; one export only); the last choice is taken whatever it gives there."""
    tried = {}
    for i, (name, storage) in enumerate(choices):
        graph = ExplainGraph(net, composite, tuple(inputs.shape[1:]), storage).eval()
        with torch.no_grad():
            logits, rel = graph(inputs)
        got = agreement(logits.numpy(), rel.numpy(), reference)
        tried[name] = got.to_dict()
        if got.passes(MARGIN["prob"], MARGIN["cosine"], MARGIN["top1"]) or i == len(choices) - 1:
            model = onnx_bytes(graph, inputs[:1])
            exported = agreement(*run_onnx(model, inputs.numpy()), reference)
            tried[name] = {**exported.to_dict(), "bytes": len(model)}
            if not exported.passes():
                raise AudiomnistError(f"the exported graph ({name}) disagrees with explain.relevance: {exported.to_dict()}")
            return Exported(model, name, exported, tried)
    raise AudiomnistError("no weight storage to try")
