// "Your voice, explained": the book's networks and their LRP pass in the reader's browser.
//
// The same preprocessing as audiomnist_core.preprocess (and audiomnist_core.voice, which the
// tests hold this file to): FFT resampling to 8 kHz as scipy.signal.resample, the profile's
// preprocess.fit (silence trimmed, the loudest second kept), the recording centred in 8000
// zeros (training placed it at a random offset), AudioNet's normalised waveform and AlexNet's
// dB spectrogram minus the fold's training mean. The networks are the ONNX graphs of
// `audiomnist export-web`, run by ONNX Runtime Web (loaded only when the reader asks).
//
// window.audiomnist.explain(samples, sampleRate) -> Promise of {"model/task": {prediction,
// probabilities, relevance}}: the page's one entry point; the section's controls use it too.
// Plain JavaScript, no framework, nothing Chromium-only (Web Audio, getUserMedia, WebAssembly).
(function () {
  "use strict";
  var A = (window.audiomnist = window.audiomnist || {});
  var script = document.currentScript;
  var BASE = script ? script.src.slice(0, script.src.lastIndexOf("/") + 1) : "";

  // --- FFT: radix 2, and Bluestein's chirp-z for other lengths (float64) -----------------------

  var radix2Plans = {}, bluesteinPlans = {};

  function radix2Plan(n) {
    if (radix2Plans[n]) { return radix2Plans[n]; }
    var cos = new Float64Array(n / 2), sin = new Float64Array(n / 2), rev = new Uint32Array(n), bits = Math.round(Math.log2(n));
    for (var k = 0; k < n / 2; k++) { cos[k] = Math.cos(2 * Math.PI * k / n); sin[k] = -Math.sin(2 * Math.PI * k / n); }
    for (var i = 0; i < n; i++) {
      var r = 0;
      for (var b = 0; b < bits; b++) { r = (r << 1) | ((i >>> b) & 1); }
      rev[i] = r;
    }
    return (radix2Plans[n] = {cos: cos, sin: sin, rev: rev});
  }

  // In place forward DFT (exp(-2 pi i k t / n)) of a power-of-two length.
  function fftRadix2(re, im) {
    var n = re.length, plan = radix2Plan(n), rev = plan.rev, i, j, t;
    for (i = 0; i < n; i++) {
      j = rev[i];
      if (i < j) { t = re[i]; re[i] = re[j]; re[j] = t; t = im[i]; im[i] = im[j]; im[j] = t; }
    }
    for (var size = 2; size <= n; size <<= 1) {
      var half = size >> 1, step = n / size;
      for (var start = 0; start < n; start += size) {
        for (var k = 0; k < half; k++) {
          var wr = plan.cos[k * step], wi = plan.sin[k * step];
          var a = start + k, b = a + half;
          var xr = re[b] * wr - im[b] * wi, xi = re[b] * wi + im[b] * wr;
          re[b] = re[a] - xr; im[b] = im[a] - xi;
          re[a] += xr; im[a] += xi;
        }
      }
    }
  }

  function bluesteinPlan(n) {
    if (bluesteinPlans[n]) { return bluesteinPlans[n]; }
    var m = 1;
    while (m < 2 * n - 1) { m <<= 1; }
    var wr = new Float64Array(n), wi = new Float64Array(n);
    for (var k = 0; k < n; k++) {
      var turns = (k * k) % (2 * n); // exact: the phase pi k^2 / n reduced modulo 2 pi
      wr[k] = Math.cos(Math.PI * turns / n); wi[k] = -Math.sin(Math.PI * turns / n);
    }
    var br = new Float64Array(m), bi = new Float64Array(m);
    br[0] = wr[0]; bi[0] = -wi[0];
    for (k = 1; k < n; k++) { br[k] = br[m - k] = wr[k]; bi[k] = bi[m - k] = -wi[k]; }
    fftRadix2(br, bi);
    return (bluesteinPlans[n] = {m: m, wr: wr, wi: wi, br: br, bi: bi});
  }

  // Forward DFT of any length: new arrays (re, im).
  function dft(xr, xi) {
    var n = xr.length;
    if ((n & (n - 1)) === 0) {
      var r = Float64Array.from(xr), i = Float64Array.from(xi);
      fftRadix2(r, i);
      return [r, i];
    }
    var p = bluesteinPlan(n), m = p.m, ar = new Float64Array(m), ai = new Float64Array(m), k;
    for (k = 0; k < n; k++) { ar[k] = xr[k] * p.wr[k] - xi[k] * p.wi[k]; ai[k] = xr[k] * p.wi[k] + xi[k] * p.wr[k]; }
    fftRadix2(ar, ai);
    for (k = 0; k < m; k++) {
      var tr = ar[k] * p.br[k] - ai[k] * p.bi[k];
      ai[k] = ar[k] * p.bi[k] + ai[k] * p.br[k]; ar[k] = tr;
    }
    // inverse FFT by conjugation
    for (k = 0; k < m; k++) { ai[k] = -ai[k]; }
    fftRadix2(ar, ai);
    var outR = new Float64Array(n), outI = new Float64Array(n);
    for (k = 0; k < n; k++) {
      var cr = ar[k] / m, ci = -ai[k] / m;
      outR[k] = cr * p.wr[k] - ci * p.wi[k]; outI[k] = cr * p.wi[k] + ci * p.wr[k];
    }
    return [outR, outI];
  }

  // rfft of a real signal: the first `bins` bins (re, im).
  function rfft(x, bins) {
    var d = dft(x, new Float64Array(x.length));
    return [d[0].slice(0, bins), d[1].slice(0, bins)];
  }

  // numpy.fft.irfft(spec, n): spec's bins beyond n // 2 are dropped, missing ones are zero; the
  // imaginary parts of bin 0 (and of bin n / 2 for even n) are ignored.
  function irfft(sr, si, n) {
    var re = new Float64Array(n), im = new Float64Array(n), half = Math.floor(n / 2), k;
    for (k = 0; k <= half && k < sr.length; k++) {
      var imag = k === 0 || (n % 2 === 0 && k === half) ? 0 : si[k];
      re[k] = sr[k]; im[k] = -imag; // conjugated: the inverse by a forward transform
      if (k > 0 && n - k !== k) { re[n - k] = sr[k]; im[n - k] = imag; }
    }
    var d = dft(re, im), out = new Float64Array(n);
    for (k = 0; k < n; k++) { out[k] = d[0][k] / n; }
    return out;
  }

  // --- preprocessing (audiomnist_core.preprocess) ----------------------------------------------

  // scipy.signal.resample to ceil(T new / orig) samples, as preprocess.resample_fft.
  function resample(x, orig, target) {
    var n = x.length, num = Math.ceil(n * target / orig);
    if (orig === target || num === n) { return Float64Array.from(x); }
    var m = Math.min(num, n), bins = Math.floor(m / 2) + 1, s = rfft(x, bins), k;
    if (m % 2 === 0) {
      var f = num < n ? 2 : 0.5;
      s[0][m / 2] *= f; s[1][m / 2] *= f;
    }
    for (k = 0; k < bins; k++) { s[0][k] *= num / n; s[1][k] *= num / n; }
    return irfft(s[0], s[1], num);
  }

  // RMS of centred frames, as librosa.feature.rms(center=True): preprocess.frame_rms.
  function frameRms(x, frame, hop) {
    var half = Math.floor(frame / 2), padded = x.length + 2 * half, count = 1 + Math.floor((padded - frame) / hop);
    var out = new Float64Array(count), i;
    for (i = 0; i < count; i++) {
      var s = 0;
      for (var t = i * hop; t < i * hop + frame; t++) { var u = t - half, w = u >= 0 && u < x.length ? x[u] : 0; s += w * w; }
      out[i] = Math.sqrt(s / frame);
    }
    return out;
  }

  // preprocess.trim_silence: [start, end) of the clip without its leading and trailing silence.
  function trimSilence(x, topDb, frame, hop, amin) {
    if (x.length === 0) { return [0, 0]; }
    var rms = frameRms(x, frame, hop), peak = 0, i, first = -1, last = -1;
    for (i = 0; i < rms.length; i++) { rms[i] = Math.max(rms[i], amin); peak = Math.max(peak, rms[i]); }
    for (i = 0; i < rms.length; i++) {
      if (20 * Math.log10(rms[i] / peak) > -topDb) { if (first < 0) { first = i; } last = i; }
    }
    return [first * hop, Math.min(x.length, (last + 1) * hop)];
  }

  // preprocess.crop_window: start of the `length` samples of most energy (the earliest of equal ones).
  function cropWindow(x, length) {
    if (x.length <= length) { return 0; }
    var energy = new Float64Array(x.length + 1), best = -Infinity, at = 0, i;
    for (i = 0; i < x.length; i++) { energy[i + 1] = energy[i] + x[i] * x[i]; }
    for (i = 0; i + length <= x.length; i++) {
      var e = energy[i + length] - energy[i];
      if (e > best) { best = e; at = i; }
    }
    return at;
  }

  // preprocess.fit_clip under `mode`: {start, end, trimmed, cropped}.
  function fitClip(x, mode, length, c) {
    var n = x.length;
    if (mode === "error") { return {start: 0, end: n, trimmed: 0, cropped: 0}; }
    var se = trimSilence(x, c.trim_db, c.trim_frame, c.trim_hop, c.amin), start = se[0], end = se[1], trimmed = n - (end - start);
    if (mode === "trim" || end - start <= length) { return {start: start, end: end, trimmed: trimmed, cropped: 0}; }
    start += cropWindow(x.subarray(start, end), length);
    return {start: start, end: start + length, trimmed: trimmed, cropped: n - trimmed - length};
  }

  function VoiceError(message) { this.name = "VoiceError"; this.message = message; }
  VoiceError.prototype = Object.create(Error.prototype);

  // A recording (int16 scale, any rate) as the networks get it: voice.prepare. A clip that is
  // still longer than one second under the profile's fit "error" or "trim" is cut by
  // "trim_crop" instead (the page says so): `fit` tells which rule was used.
  function prepare(samples, sampleRate, c) {
    if (!samples || samples.length === 0) { throw new VoiceError("the recording is empty"); }
    var clip = resample(samples, sampleRate, c.sample_rate), L = c.input_length, mode = c.fit;
    var fit = fitClip(clip, mode, L, c);
    if (fit.end - fit.start > L) { mode = "trim_crop"; fit = fitClip(clip, mode, L, c); }
    var length = fit.end - fit.start, offset = Math.max(0, Math.floor((L - length) / 2)), wave = new Float64Array(L);
    for (var i = 0; i < length; i++) { wave[offset + i] = clip[fit.start + i]; }
    return {wave: wave, offset: offset, length: length, trimmed: fit.trimmed, cropped: fit.cropped, fit: mode,
            seconds: samples.length / sampleRate};
  }

  function sorted(values) { return Float64Array.from(values).sort(); }

  // numpy.percentile (linear) of the whole array.
  function percentile(x, q) {
    var s = sorted(x), pos = q * (s.length - 1), lo = Math.floor(pos), hi = Math.min(lo + 1, s.length - 1);
    return s[lo] + (pos - lo) * (s[hi] - s[lo]);
  }

  // preprocess.nonzero_percentile: of the non-zero entries; 0 when there are none.
  function nonzeroPercentile(x, q) {
    var nz = [];
    for (var i = 0; i < x.length; i++) { if (x[i] !== 0) { nz.push(x[i]); } }
    if (nz.length === 0) { return 0; }
    var s = sorted(nz), pos = q * (s.length - 1), lo = Math.floor(pos), hi = Math.min(lo + 1, s.length - 1);
    return s[lo] + (pos - lo) * (s[hi] - s[lo]);
  }

  // AudioNet's input: preprocess.waveform_input ("original" or "robust").
  function waveformInput(wave, c) {
    var n = wave.length, out = new Float64Array(n), i;
    if (c.waveform_norm === "original") {
      var d = percentile(wave, c.percentile) + c.percentile_eps;
      for (i = 0; i < n; i++) { out[i] = wave[i] / d; }
      return out;
    }
    var sum = 0, count = 0, peak = 0;
    for (i = 0; i < n; i++) { if (wave[i] !== 0) { sum += wave[i]; count++; } }
    var mean = sum / Math.max(count, 1), magnitude = new Float64Array(n);
    for (i = 0; i < n; i++) {
      out[i] = wave[i] !== 0 ? wave[i] - mean : wave[i];
      magnitude[i] = Math.abs(out[i]);
      peak = Math.max(peak, magnitude[i]);
    }
    var divisor = Math.max(Math.max(nonzeroPercentile(magnitude, c.percentile), c.robust_floor * peak), c.robust_min_divisor);
    for (i = 0; i < n; i++) { out[i] /= divisor; }
    return out;
  }

  var windows = {};
  function hann(n) {
    if (!windows[n]) {
      var w = new Float64Array(n);
      for (var i = 0; i < n; i++) { w[i] = 0.5 - 0.5 * Math.cos(2 * Math.PI * i / n); }
      windows[n] = w;
    }
    return windows[n];
  }

  // AlexNet's input before the mean: preprocess.spectrogram, (227 x 227) frequency-major.
  function spectrogram(wave, c) {
    var nfft = c.n_fft, hop = c.hop, half = Math.floor(nfft / 2), F = c.freq_bins, T = c.time_frames, w = hann(nfft);
    var wsum = 0, i, f, t;
    for (i = 0; i < nfft; i++) { wsum += w[i]; }
    var power = new Float64Array(F * T), frame = new Float64Array(nfft), ref = 0;
    for (t = 0; t < T; t++) {
      var start = (c.first_frame + t) * hop - half, any = false;
      for (i = 0; i < nfft; i++) {
        var j = start + i, v = j >= 0 && j < wave.length ? wave[j] : 0;
        frame[i] = v * w[i];
        if (v !== 0) { any = true; }
      }
      if (!any) { continue; }
      var s = rfft(frame, F);
      for (f = 0; f < F; f++) {
        var p = s[0][f] * s[0][f] + s[1][f] * s[1][f];
        power[f * T + t] = p;
        if (p > ref) { ref = p; }
      }
    }
    var floor = Math.pow(c.amin * wsum, 2), refDb = 10 * Math.log10(Math.max(ref, floor)), out = new Float64Array(F * T);
    for (i = 0; i < F * T; i++) { out[i] = Math.max(10 * Math.log10(Math.max(power[i], floor)) - refDb, -c.top_db); }
    return out;
  }

  function minus(a, b) {
    var out = new Float64Array(a.length);
    for (var i = 0; i < a.length; i++) { out[i] = a[i] - b[i]; }
    return out;
  }

  // --- the STFT grid of spectral.stft / spectral.istft, for AlexNet's audible explanations --------

  function gridFrames(length, c) { var padded = length + 2 * Math.floor(c.n_fft / 2); return Math.ceil((padded - c.n_fft) / c.hop) + 1; }

  function stft(wave, c) {
    var nfft = c.n_fft, hop = c.hop, half = Math.floor(nfft / 2), bins = half + 1, M = gridFrames(wave.length, c), w = hann(nfft);
    var wsum = 0, i;
    for (i = 0; i < nfft; i++) { wsum += w[i]; }
    var re = new Float64Array(bins * M), im = new Float64Array(bins * M), frame = new Float64Array(nfft);
    for (var m = 0; m < M; m++) {
      for (i = 0; i < nfft; i++) { var j = m * hop + i - half; frame[i] = j >= 0 && j < wave.length ? wave[j] * w[i] : 0; }
      var s = rfft(frame, bins);
      for (var f = 0; f < bins; f++) { re[f * M + m] = s[0][f] / wsum; im[f * M + m] = s[1][f] / wsum; }
    }
    return {re: re, im: im, bins: bins, frames: M};
  }

  function istft(z, length, c) {
    var nfft = c.n_fft, hop = c.hop, half = Math.floor(nfft / 2), M = z.frames, bins = z.bins, w = hann(nfft), wsum = 0, i, m;
    for (i = 0; i < nfft; i++) { wsum += w[i]; }
    var total = (M - 1) * hop + nfft, acc = new Float64Array(total), norm = new Float64Array(total);
    var sr = new Float64Array(bins), si = new Float64Array(bins);
    for (m = 0; m < M; m++) {
      for (var f = 0; f < bins; f++) { sr[f] = z.re[f * M + m]; si[f] = z.im[f * M + m]; }
      var frame = irfft(sr, si, nfft);
      for (i = 0; i < nfft; i++) { acc[m * hop + i] += frame[i] * wsum * w[i]; norm[m * hop + i] += w[i] * w[i]; }
    }
    var out = new Float64Array(length);
    for (i = 0; i < length; i++) { var d = norm[half + i]; out[i] = acc[half + i] / (d > 1e-10 ? d : 1); }
    return out;
  }

  // The recording filtered by a mask on AlexNet's crop of the grid (spectral.resynthesise).
  function resynthesise(wave, cropMask, c) {
    var z = stft(wave, c), F = c.freq_bins, T = c.time_frames;
    for (var f = 0; f < z.bins; f++) {
      for (var m = 0; m < z.frames; m++) {
        var t = m - c.first_frame, k = 0;
        if (f < F && t >= 0 && t < T) { k = cropMask(f * T + t); } else { k = cropMask(-1); }
        z.re[f * z.frames + m] *= k; z.im[f * z.frames + m] *= k;
      }
    }
    return istft(z, wave.length, c);
  }

  // Positive relevance scaled to a maximum of 1 (spectral._unit_positive).
  function unitPositive(r) {
    var peak = 0, out = new Float64Array(r.length), i;
    for (i = 0; i < r.length; i++) { if (r[i] > peak) { peak = r[i]; } }
    for (i = 0; i < r.length; i++) { out[i] = peak > 0 && r[i] > 0 ? r[i] / peak : 0; }
    return out;
  }

  // The round(fraction n) most relevant entries with positive relevance (ties to the earlier).
  function mostRelevant(r, fraction) {
    var count = Math.round(fraction * r.length), idx = new Array(r.length), drop = new Uint8Array(r.length), i;
    for (i = 0; i < r.length; i++) { idx[i] = i; }
    idx.sort(function (a, b) { return r[b] - r[a] || a - b; });
    for (i = 0; i < count; i++) { if (r[idx[i]] > 0) { drop[idx[i]] = 1; } }
    return drop;
  }

  // --- the networks (ONNX Runtime Web, loaded on first use) -----------------------------------

  var manifestPromise = null, ortPromise = null, sessions = {}, means = {};

  // The section embeds the manifest; elsewhere (a page without the section) it is fetched.
  function manifest() {
    var embedded = document.querySelector(".audiomnist-voice script[data-role=manifest]");
    if (!manifestPromise && embedded) { manifestPromise = Promise.resolve(JSON.parse(embedded.textContent)); }
    if (!manifestPromise) {
      manifestPromise = fetch(BASE + "voice.json").then(function (r) {
        if (!r.ok) { throw new Error("the page's networks are missing (" + BASE + "voice.json: HTTP " + r.status + ")"); }
        return r.json();
      });
    }
    return manifestPromise;
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = function () { reject(new Error("could not load " + src)); };
      document.head.appendChild(s);
    });
  }

  function runtime(m) {
    if (!ortPromise) {
      var dir = new URL(m.ort || "../vendor/onnxruntime-web/", BASE).href;
      ortPromise = (window.ort ? Promise.resolve() : loadScript(dir + "ort.wasm.min.js")).then(function () {
        window.ort.env.wasm.wasmPaths = dir;
        window.ort.env.wasm.numThreads = 1; // a static page is not cross-origin isolated
        window.ort.env.logLevel = "error";
        return window.ort;
      });
    }
    return ortPromise;
  }

  // AlexNet's training mean (float32, 227 x 227 frequency-major) into means[name], once.
  function loadMean(name, entry) {
    if (!entry.mean || means[name]) { return Promise.resolve(); }
    return fetch(BASE + entry.mean).then(function (r) { return r.arrayBuffer(); }).then(function (b) { means[name] = new Float32Array(b); });
  }

  function session(name) {
    if (!sessions[name]) {
      sessions[name] = manifest().then(function (m) {
        var entry = m.models[name];
        return Promise.all([runtime(m), loadMean(name, entry)]).then(function (r) {
          return r[0].InferenceSession.create(BASE + entry.file, {executionProviders: ["wasm"], graphOptimizationLevel: "all"});
        });
      });
    }
    return sessions[name];
  }

  // The network input of a padded 8 kHz wave for one model (flat, the input's layout).
  function networkInput(entry, name, wave, c) {
    return entry.input === "spectrogram" ? minus(spectrogram(wave, c), means[name]) : waveformInput(wave, c);
  }

  function softmax(logits) {
    var peak = -Infinity, sum = 0, out = new Array(logits.length), i;
    for (i = 0; i < logits.length; i++) { peak = Math.max(peak, logits[i]); }
    for (i = 0; i < logits.length; i++) { out[i] = Math.exp(logits[i] - peak); sum += out[i]; }
    for (i = 0; i < logits.length; i++) { out[i] /= sum; }
    return out;
  }

  function argmax(v) { var b = 0; for (var i = 1; i < v.length; i++) { if (v[i] > v[b]) { b = i; } } return b; }

  // Run a network on a batch of flat inputs: [{logits, probabilities, prediction, relevance}].
  function run(name, entry, inputs) {
    return session(name).then(function (s) {
      var size = inputs[0].length, batch = new Float32Array(size * inputs.length);
      inputs.forEach(function (x, k) { batch.set(x, k * size); });
      var tensor = new window.ort.Tensor("float32", batch, [inputs.length].concat(entry.shape));
      return s.run({input: tensor}).then(function (out) {
        var classes = entry.classes.length, results = [];
        for (var k = 0; k < inputs.length; k++) {
          var logits = Array.prototype.slice.call(out.logits.data, k * classes, (k + 1) * classes);
          results.push({logits: logits, probabilities: softmax(logits), prediction: argmax(logits),
                        relevance: out.relevance.data.slice(k * size, (k + 1) * size)});
        }
        return results;
      });
    });
  }

  function names(m) { return Object.keys(m.models); }

  // The page's entry point: every network's prediction, probabilities and relevance.
  function explainPrepared(prepared) {
    return manifest().then(function (m) {
      var c = m.preprocess, out = {};
      return names(m).reduce(function (chain, name) {
        var started;
        return chain.then(function () { return session(name); }).then(function () {
          started = performance.now();
          var entry = m.models[name], db = entry.input === "spectrogram" ? spectrogram(prepared.wave, c) : null;
          var x = db ? minus(db, means[name]) : waveformInput(prepared.wave, c);
          return run(name, entry, [x]).then(function (r) {
            out[name] = {prediction: r[0].prediction, probabilities: r[0].probabilities, relevance: r[0].relevance, input: x, db: db,
                         seconds: (performance.now() - started) / 1000};
          });
        });
      }, Promise.resolve()).then(function () { return out; });
    });
  }

  A.preprocess = {resample: resample, prepare: prepare, waveformInput: waveformInput, spectrogram: spectrogram,
                  stft: stft, istft: istft, rfft: rfft, irfft: irfft};
  A.manifest = manifest;
  A.VoiceError = VoiceError;

  // {"model/task": flat network input} of a recording (for the tests of the preprocessing).
  A.inputs = function (samples, sampleRate) {
    return manifest().then(function (m) {
      var prepared = prepare(samples, sampleRate, m.preprocess), out = {};
      return Promise.all(names(m).map(function (name) {
        var entry = m.models[name];
        return loadMean(name, entry).then(function () { out[name] = Array.from(networkInput(entry, name, prepared.wave, m.preprocess)); });
      })).then(function () { return {prepared: {offset: prepared.offset, length: prepared.length, fit: prepared.fit}, inputs: out}; });
    });
  };

  A.explain = function (samples, sampleRate) {
    return manifest().then(function (m) {
      var prepared = prepare(samples, sampleRate, m.preprocess);
      return explainPrepared(prepared).then(function (out) {
        var plain = {};
        Object.keys(out).forEach(function (k) {
          plain[k] = {prediction: out[k].prediction, probabilities: out[k].probabilities, relevance: out[k].relevance};
        });
        return plain;
      });
    });
  };

  // --- audible explanations: "input x relevance" and "without its most relevant 10 %" ---------

  var FRACTION = 0.1;

  // {name: {input, weighted, removed}}: 8 kHz waves to play, each with the network's prediction.
  function audible(m, prepared, explained) {
    var c = m.preprocess, out = {};
    return names(m).reduce(function (chain, name) {
      var started;
      return chain.then(function () {
        started = performance.now();
        var entry = m.models[name], e = explained[name], r = e.relevance, waves, inputs;
        if (entry.input === "waveform") {
          var x = e.input, unit = unitPositive(r), drop = mostRelevant(r, FRACTION), peakX = 0, peakW = 0, i;
          var weighted = new Float64Array(x.length), removed = new Float64Array(x.length);
          for (i = 0; i < x.length; i++) {
            weighted[i] = x[i] * unit[i]; removed[i] = drop[i] ? 0 : x[i];
            peakX = Math.max(peakX, Math.abs(x[i])); peakW = Math.max(peakW, Math.abs(prepared.wave[i]));
          }
          var gain = peakX > 0 ? peakW / peakX : 1; // listen.recording_gain: played at the recording's level
          waves = [weighted, removed].map(function (v) { return v.map(function (s) { return s * gain; }); });
          inputs = [weighted, removed];
        } else {
          var unitS = unitPositive(r), dropS = mostRelevant(r, FRACTION);
          waves = [
            resynthesise(prepared.wave, function (k) { return k < 0 ? 0 : unitS[k]; }, c),
            resynthesise(prepared.wave, function (k) { return k < 0 ? 1 : (dropS[k] ? 0 : 1); }, c),
          ];
          inputs = waves.map(function (w) { return minus(spectrogram(w, c), means[name]); });
        }
        return run(name, entry, inputs).then(function (res) {
          out[name] = {input: {wave: prepared.wave, prediction: e.prediction},
                       weighted: {wave: waves[0], prediction: res[0].prediction},
                       removed: {wave: waves[1], prediction: res[1].prediction}, seconds: (performance.now() - started) / 1000};
        });
      });
    }, Promise.resolve()).then(function () { return out; });
  }

  // --- the section's controls -------------------------------------------------------------------

  var RECORD_SECONDS = 1.5;

  function wavUrl(wave, rate) {
    var n = wave.length, buf = new ArrayBuffer(44 + 2 * n), v = new DataView(buf), peak = 0, i;
    function str(o, s) { for (var k = 0; k < s.length; k++) { v.setUint8(o + k, s.charCodeAt(k)); } }
    for (i = 0; i < n; i++) { peak = Math.max(peak, Math.abs(wave[i])); }
    var scale = peak > 32767 ? 32767 / peak : 1; // int16 scale; only a clipping level is lowered
    str(0, "RIFF"); v.setUint32(4, 36 + 2 * n, true); str(8, "WAVE"); str(12, "fmt ");
    v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true); v.setUint32(24, rate, true);
    v.setUint32(28, 2 * rate, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true); str(36, "data"); v.setUint32(40, 2 * n, true);
    for (i = 0; i < n; i++) { v.setInt16(44 + 2 * i, Math.round(wave[i] * scale), true); }
    return URL.createObjectURL(new Blob([buf], {type: "audio/wav"}));
  }

  // A PCM or float WAV file as data.read_wav reads one: mono samples on the int16 scale at the
  // file's own rate (channels averaged). Null for anything else, which the browser decodes
  // (at its own rate, so resampled twice).
  function readWav(bytes) {
    var v = new DataView(bytes), tag = function (o) { return String.fromCharCode(v.getUint8(o), v.getUint8(o + 1), v.getUint8(o + 2), v.getUint8(o + 3)); };
    if (bytes.byteLength < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") { return null; }
    var pos = 12, fmt = null;
    while (pos + 8 <= bytes.byteLength) {
      var id = tag(pos), size = v.getUint32(pos + 4, true), body = pos + 8;
      if (id === "fmt ") {
        fmt = {code: v.getUint16(body, true), channels: v.getUint16(body + 2, true), rate: v.getUint32(body + 4, true), bits: v.getUint16(body + 14, true)};
        if (fmt.code === 0xfffe && size >= 26) { fmt.code = v.getUint16(body + 24, true); }
      } else if (id === "data" && fmt) {
        var width = fmt.bits / 8, frames = Math.floor(Math.min(size, bytes.byteLength - body) / (width * fmt.channels));
        if (!(fmt.code === 1 && (fmt.bits === 16 || fmt.bits === 24 || fmt.bits === 32)) && !(fmt.code === 3 && fmt.bits === 32)) { return null; }
        var out = new Float64Array(frames);
        for (var i = 0; i < frames; i++) {
          var sum = 0;
          for (var ch = 0; ch < fmt.channels; ch++) {
            var o = body + (i * fmt.channels + ch) * width, s;
            if (fmt.code === 3) { s = 32768 * v.getFloat32(o, true); }
            else if (fmt.bits === 16) { s = v.getInt16(o, true); }
            else if (fmt.bits === 24) { s = ((v.getUint8(o) | (v.getUint8(o + 1) << 8) | (v.getInt8(o + 2) << 16))) / 256; }
            else { s = v.getInt32(o, true) / 65536; }
            sum += s;
          }
          out[i] = sum / fmt.channels;
        }
        return frames > 0 ? {samples: out, rate: fmt.rate} : null;
      }
      pos = body + size + (size & 1);
    }
    return null;
  }
  A.readWav = readWav;

  function bwr(v) { // matplotlib's "bwr", v in [-1, 1]
    v = Math.max(-1, Math.min(1, v));
    return v < 0 ? [Math.round(255 * (1 + v)), Math.round(255 * (1 + v)), 255] : [255, Math.round(255 * (1 - v)), Math.round(255 * (1 - v))];
  }

  function peakAbs(r) { var p = 0; for (var i = 0; i < r.length; i++) { p = Math.max(p, Math.abs(r[i])); } return p || 1; }

  // AudioNet: the recording with each sample's relevance as its colour.
  function drawWaveform(canvas, x, r) {
    var g = canvas.getContext("2d"), W = canvas.width, H = canvas.height, n = x.length, px = peakAbs(x), pr = peakAbs(r);
    g.fillStyle = "#fff"; g.fillRect(0, 0, W, H);
    for (var col = 0; col < W; col++) {
      var a = Math.floor(col * n / W), b = Math.max(a + 1, Math.floor((col + 1) * n / W)), lo = 0, hi = 0, best = 0;
      for (var i = a; i < b; i++) { lo = Math.min(lo, x[i]); hi = Math.max(hi, x[i]); if (Math.abs(r[i]) > Math.abs(best)) { best = r[i]; } }
      var rgb = bwr(best / pr);
      g.fillStyle = "rgb(" + rgb.join(",") + ")";
      g.fillRect(col, 0, 1, H);
      g.fillStyle = "#333";
      g.fillRect(col, H / 2 - hi / px * H * 0.45, 1, Math.max(1, (hi - lo) / px * H * 0.45));
    }
  }

  // AlexNet: the spectrogram in grey (dB, -80 to 0) with the relevance on top in Fig. 1's
  // colour map, the more opaque the larger |relevance| (plots.relevance.overlay); frequency up.
  function drawSpectrogram(canvas, db, r, F, T, topDb) {
    var g = canvas.getContext("2d"), img = g.createImageData(T, F), pr = peakAbs(r);
    for (var f = 0; f < F; f++) {
      for (var t = 0; t < T; t++) {
        var k = f * T + t, u = r[k] / pr, rgb = bwr(u), alpha = Math.sqrt(Math.abs(u)), o = ((F - 1 - f) * T + t) * 4;
        var grey = 255 * Math.max(0, Math.min(1, (db[k] + topDb) / topDb));
        for (var ch = 0; ch < 3; ch++) { img.data[o + ch] = Math.round(alpha * rgb[ch] + (1 - alpha) * grey); }
        img.data[o + 3] = 255;
      }
    }
    canvas.width = T; canvas.height = F;
    g.putImageData(img, 0, 0);
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  var TITLES = {audionet: "AudioNet (waveform)", alexnet: "AlexNet (spectrogram)"};

  function renderResults(root, m, prepared, explained, sounds) {
    var box = root.querySelector("[data-role=results]");
    box.innerHTML = "";
    var c = m.preprocess;
    var note = "Heard " + prepared.seconds.toFixed(2) + " s; the networks got " + (prepared.length / c.sample_rate).toFixed(2) +
      " s at 8 kHz, centred in one second";
    if (prepared.fit !== c.fit) { note += " (longer than one second: silence trimmed and the loudest second kept, fit trim_crop)"; }
    else if (prepared.trimmed || prepared.cropped) { note += " (fit " + prepared.fit + ")"; }
    box.appendChild(el("p", {"class": "voice-note"}, note + "."));
    names(m).forEach(function (name) {
      var entry = m.models[name], e = explained[name], parts = name.split("/"), card = el("div", {"class": "voice-card", "data-model": name});
      card.appendChild(el("h4", {}, TITLES[parts[0]] + ", " + parts[1] + ": " + entry.classes[e.prediction]));
      var bars = el("div", {"class": "voice-probs"});
      entry.classes.forEach(function (label, k) {
        var row = el("div", {"class": "voice-prob" + (k === e.prediction ? " voice-predicted" : "")});
        row.appendChild(el("span", {"class": "voice-class"}, label));
        var bar = el("span", {"class": "voice-bar"});
        bar.appendChild(el("span", {"class": "voice-fill", style: "width:" + (100 * e.probabilities[k]).toFixed(1) + "%"}));
        row.appendChild(bar);
        row.appendChild(el("span", {"class": "voice-p"}, (100 * e.probabilities[k]).toFixed(1) + " %"));
        bars.appendChild(row);
      });
      card.appendChild(bars);
      var canvas = el("canvas", {width: "454", height: "120", "class": "voice-map",
                                 "aria-label": "relevance of " + entry.classes[e.prediction] + " (red: for, blue: against)"});
      if (entry.input === "waveform") { drawWaveform(canvas, e.input, e.relevance); }
      else { drawSpectrogram(canvas, e.db, e.relevance, c.freq_bins, c.time_frames, c.top_db); }
      card.appendChild(el("div", {"class": "voice-caption"}, "Relevance of \u201c" + entry.classes[e.prediction] + "\u201d " +
        (entry.input === "waveform" ? "over the waveform" : "over its spectrogram (grey; 0\u20134 kHz up, one second across)") +
        ": red for it, blue against it."));
      card.appendChild(canvas);
      var players = el("div", {"class": "voice-players"}), s = sounds[name];
      [["input", "as the network got it"], ["weighted", "input \u00d7 relevance"], ["removed", "without its most relevant 10 %"]].forEach(function (p) {
        var cell = el("div", {"class": "voice-player", "data-sound": p[0]});
        cell.appendChild(el("div", {}, p[1] + ": heard as " + entry.classes[s[p[0]].prediction]));
        var audio = el("audio", {controls: "", preload: "none", src: wavUrl(s[p[0]].wave, c.sample_rate)});
        cell.appendChild(audio);
        players.appendChild(cell);
      });
      card.appendChild(players);
      box.appendChild(card);
    });
  }

  function mount(root) {
    if (root.getAttribute("data-ready")) { return; }
    root.setAttribute("data-ready", "1");
    function role(r) { return root.querySelector("[data-role=" + r + "]"); }
    var status = role("status"), record = role("record"), meter = role("meter"), file = role("file"), drop = role("drop");
    var pick = role("pick"), pickButton = role("pick-go"), mic = role("mic");
    function say(text, isError) { status.textContent = text; status.className = "voice-status" + (isError ? " voice-error" : ""); }
    var busy = false;
    function explainSamples(samples, rate, started) {
      if (busy) { return Promise.resolve(); }
      busy = true;
      root.setAttribute("data-state", "working");
      say("Loading the networks and explaining\u2026 (the first time fetches the models)");
      return manifest().then(function (m) {
        var prepared = prepare(samples, rate, m.preprocess);
        return explainPrepared(prepared).then(function (explained) {
          return audible(m, prepared, explained).then(function (sounds) {
            renderResults(root, m, prepared, explained, sounds);
            var ms = performance.now() - started;
            root.setAttribute("data-seconds", String(ms / 1000));
            root.setAttribute("data-state", "done");
            var keys = Object.keys(explained);
            A.last = {seconds: ms / 1000,
                      predictions: keys.reduce(function (o, k) { o[k] = explained[k].prediction; return o; }, {}),
                      // per network: its explanation, then its two audible explanations with their predictions
                      modelSeconds: keys.reduce(function (o, k) { o[k] = {explain: explained[k].seconds, audible: sounds[k].seconds}; return o; }, {})};
            say("Explained in " + (ms / 1000).toFixed(2) + " s.");
          });
        });
      }).catch(function (err) {
        root.setAttribute("data-state", "error");
        say(err instanceof VoiceError ? "This recording cannot be explained: " + err.message + "." : "Something went wrong: " + err.message, true);
      }).then(function () { busy = false; });
    }
    function decodeFile(blob) {
      var started = performance.now();
      return blob.arrayBuffer().then(function (bytes) {
        var wav = readWav(bytes);
        if (wav) { return explainSamples(wav.samples, wav.rate, started); }
        var Ctx = window.AudioContext || window.webkitAudioContext, ctx = new Ctx();
        return new Promise(function (resolve, reject) { ctx.decodeAudioData(bytes, resolve, reject); }).then(function (buffer) {
          ctx.close();
          var n = buffer.length, mono = new Float64Array(n);
          for (var ch = 0; ch < buffer.numberOfChannels; ch++) {
            var d = buffer.getChannelData(ch);
            for (var i = 0; i < n; i++) { mono[i] += 32768 * d[i] / buffer.numberOfChannels; } // int16 scale, as data.read_wav
          }
          return explainSamples(mono, buffer.sampleRate, started);
        }, function () { ctx.close(); say("This file could not be decoded as audio; try a WAV file.", true); });
      });
    }
    file.addEventListener("change", function () { if (file.files[0]) { decodeFile(file.files[0]); } });
    drop.addEventListener("dragover", function (ev) { ev.preventDefault(); drop.classList.add("voice-over"); });
    drop.addEventListener("dragleave", function () { drop.classList.remove("voice-over"); });
    drop.addEventListener("drop", function (ev) {
      ev.preventDefault(); drop.classList.remove("voice-over");
      if (ev.dataTransfer.files[0]) { decodeFile(ev.dataTransfer.files[0]); }
    });
    manifest().then(function (m) {
      m.recordings.forEach(function (r, k) { pick.appendChild(el("option", {value: String(k)}, r.title)); });
      say("The networks (" + Math.round(m.bytes / 1e6) + " MB) load when you first ask for an explanation.");
    }).catch(function (err) { say(err.message, true); });
    pickButton.addEventListener("click", function () {
      manifest().then(function (m) {
        var r = m.recordings[+pick.value];
        return fetch(BASE + r.file).then(function (res) { return res.blob(); }).then(decodeFile);
      });
    });
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.AudioContext) {
      record.disabled = true;
      mic.textContent = "This browser offers no microphone here (it needs a secure page, https or localhost); choose a file or one of the book's recordings below.";
      return;
    }
    var recording = null;
    function stop() {
      if (!recording) { return; }
      var r = recording, started = performance.now();
      recording = null;
      clearTimeout(r.timer);
      r.stream.getTracks().forEach(function (t) { t.stop(); });
      r.node.port.onmessage = null;
      r.ctx.close();
      record.textContent = "\u25cf Record 1.5 s";
      meter.style.width = "0%";
      var n = r.chunks.reduce(function (s, c) { return s + c.length; }, 0), samples = new Float64Array(n), at = 0;
      r.chunks.forEach(function (c) { for (var i = 0; i < c.length; i++) { samples[at + i] = 32768 * c[i]; } at += c.length; });
      A.recorded = {samples: samples, sampleRate: r.ctx.sampleRate}; // what the microphone gave, int16 scale
      explainSamples(samples, r.ctx.sampleRate, started);
    }
    var WORKLET = "class Tap extends AudioWorkletProcessor { process(inputs) { var x = inputs[0] && inputs[0][0];" +
      " if (x) { this.port.postMessage(x.slice(0)); } return true; } } registerProcessor('audiomnist-tap', Tap);";
    record.addEventListener("click", function () {
      if (recording) { stop(); return; }
      if (busy) { return; }
      navigator.mediaDevices.getUserMedia({audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}}).then(function (stream) {
        var ctx = new AudioContext(), url = URL.createObjectURL(new Blob([WORKLET], {type: "application/javascript"}));
        return ctx.audioWorklet.addModule(url).then(function () {
          var source = ctx.createMediaStreamSource(stream), node = new AudioWorkletNode(ctx, "audiomnist-tap");
          var r = {stream: stream, ctx: ctx, node: node, chunks: [], total: 0};
          var limit = Math.round(RECORD_SECONDS * ctx.sampleRate);
          node.port.onmessage = function (ev) {
            if (recording !== r) { return; }
            var x = ev.data, peak = 0;
            if (r.total + x.length > limit) { x = x.slice(0, limit - r.total); }
            r.chunks.push(x); r.total += x.length;
            for (var i = 0; i < x.length; i++) { peak = Math.max(peak, Math.abs(x[i])); }
            meter.style.width = Math.min(100, 100 * Math.sqrt(peak)).toFixed(0) + "%";
            if (r.total >= limit) { stop(); }
          };
          source.connect(node);
          recording = r;
          r.timer = setTimeout(stop, RECORD_SECONDS * 1000 + 1000); // a stalled stream stops too
          record.textContent = "\u25a0 Stop";
          say("Recording: say one digit (1.5 s)\u2026");
          return ctx.resume();
        });
      }).catch(function (err) {
        var refused = err && (err.name === "NotAllowedError" || err.name === "SecurityError");
        mic.textContent = refused
          ? "The microphone was refused, so nothing is recorded; choose a file or one of the book's recordings below."
          : "No microphone was found (" + (err && err.name) + "); choose a file or one of the book's recordings below.";
        record.disabled = true;
      });
    });
  }

  A.mount = mount;
  function mountAll() { Array.prototype.forEach.call(document.querySelectorAll(".audiomnist-voice"), mount); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", mountAll); } else { mountAll(); }
})();
