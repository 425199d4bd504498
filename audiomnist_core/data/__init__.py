"""Find, fetch, synthesise, read and verify a corpus in AudioMNIST's layout."""
from .corpus import (
    GENDERS,
    META_NAME,
    CorpusError,
    CorpusSummary,
    Recording,
    Speaker,
    corpus_summary,
    data_folder,
    index_recordings,
    read_metadata,
    read_wav,
    recorded_genders,
)
from .fingerprint import Fingerprint, corpus_fingerprint, describe_change
from .fetch import CorpusUnavailable, ensure_audiomnist, fetch
from .synth import ensure_synthetic, synthesize
from .verify import verify

__all__ = [
    "GENDERS", "META_NAME", "CorpusError", "CorpusSummary", "corpus_summary", "Recording", "Speaker", "data_folder", "index_recordings",
    "read_metadata", "read_wav", "recorded_genders", "CorpusUnavailable", "ensure_audiomnist", "fetch", "ensure_synthetic", "synthesize", "verify",
    "Fingerprint", "corpus_fingerprint", "describe_change",
]
