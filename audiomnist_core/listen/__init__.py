"""Hear what the network heard: the manipulated inputs of Section 3.3 as audio.

**Frequency scaling** is turned back into sound with Griffin-Lim on the manipulated
spectrogram itself, with the paper's STFT (Hann window 455, hop 35). We chose it over an
audio-domain pitch shift because it inverts exactly what AlexNet was shown (the row
interpolation, the -80 dB floor where the 0.66 squeeze leaves the top rows empty), whereas a
pitch shift only approximates that and brings artefacts of its own. Griffin-Lim's own
artefact is phase noise ("phasiness"); the players include the Griffin-Lim reconstruction of the
*unscaled* spectrogram, so the ear can tell the artefact from the manipulation.

**Zeroing** needs no inversion: the waveform with the chosen samples set to zero.

Audio is played at 8 kHz and embedded without normalisation (``normalize=False``): int16-scale
signals are divided by the fixed factor 32768, so levels stay honest between players.

**Listening on the published page** (:func:`static_player`): the book's pages are static HTML
with no kernel, so every clip a reader may ask for is computed when the chapter runs and
embedded as an 8 kHz 16-bit WAV data URI; a few lines of inline JavaScript swap the ``src`` of
an ``<audio>`` element and the prediction text when the reader picks a manipulation, an example
or a level. :func:`manipulation_player` (chapter 04) and :func:`explanation_player` (chapter 05)
build one from the models' clips; :func:`explanation_grid` is chapter 05's table of players.

The package by job: :mod:`.sound` (spectrograms back into audio, WAV data URIs, levels),
:mod:`.player` (the static HTML/JS player and the table of players), :mod:`.clips` (a trained
model's manipulated recordings and its predictions on them; the players of chapters 04 and 05)
and :mod:`.widget` (the live control for Jupyter and Colab). Chapters use the names below.
"""
from __future__ import annotations

from .clips import (EXPLANATIONS, LABELS, SCALING_FACTORS, Subject, examples, explanation_grid, explanation_player,
                    manipulation_player, original, scaled, scaled_batch, scaled_clips, scaling_factor, scaling_grid,
                    scaling_levels, zeroed, zeroed_clips, zeroing_grid)
from .player import Choice, Clip, Example, player_grid, static_player
from .sound import (INT16, RATE, at_recording_level, audio, frequency_scaled_audio, recording_gain, reference, span,
                    spectrogram_to_audio, wav_data_uri)
from .widget import audio_widget

__all__ = [
    "Choice", "Clip", "EXPLANATIONS", "Example", "INT16", "LABELS", "RATE", "SCALING_FACTORS", "Subject",
    "at_recording_level", "audio", "audio_widget", "examples", "explanation_grid", "explanation_player",
    "frequency_scaled_audio", "manipulation_player", "original", "player_grid", "recording_gain", "reference",
    "scaled", "scaled_batch", "scaled_clips", "scaling_factor", "scaling_grid", "scaling_levels", "span",
    "spectrogram_to_audio", "static_player", "wav_data_uri", "zeroed", "zeroed_clips", "zeroing_grid",
]
