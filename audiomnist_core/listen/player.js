// The static player's behaviour (audiomnist_core.listen.player.static_player); %(id)s is the id
// of its root element. ES5, no libraries: it must run on the static page as it is, in Jupyter
// and in Colab. A clip that was playing keeps playing when the reader changes a control.
(function () {
  var me = document.currentScript;
  var root = me && me.parentNode && me.parentNode.id === "%(id)s" ? me.parentNode : document.getElementById("%(id)s");
  if (!root || root.getAttribute("data-ready")) { return; }
  root.setAttribute("data-ready", "1");
  var data = JSON.parse(root.querySelector("script[data-role=payload]").textContent);
  function el(role) { return root.querySelector("[data-role=" + role + "]"); }
  var choice = el("choice"), example = el("example"), level = el("level"), levelText = el("level-text");
  var after = el("after"), afterText = el("after-text");
  var before = el("before"), beforeText = el("before-text"), beforeRow = el("before-row");
  function load(audio, k) {
    var src = data.sources[k];
    if (audio.getAttribute("src") === src) { return; }
    var playing = !audio.paused && !audio.ended;
    audio.setAttribute("src", src);
    if (playing) { var p = audio.play(); if (p && p.catch) { p.catch(function () {}); } }
  }
  function current() { return data.choices[+choice.value]; }
  function fillExamples() {
    var c = current(), keep = example.selectedIndex >= 0 ? example.options[example.selectedIndex].text : null, pick = 0;
    while (example.firstChild) { example.removeChild(example.firstChild); }
    c.examples.forEach(function (e, i) {
      var o = document.createElement("option");
      o.value = String(i);
      o.text = e.label;
      example.appendChild(o);
      if (e.label === keep) { pick = i; }
    });
    example.value = String(pick);
    level.max = String(c.levels.length - 1);
    level.value = String(c.start);
    level.disabled = c.levels.length < 2;
  }
  function render() {
    var c = current(), e = c.examples[+example.value], i = +level.value, clip = e.clips[i];
    levelText.textContent = c.levels[i];
    load(after, clip[0]);
    afterText.textContent = clip[1];
    if (beforeRow) {
      beforeRow.style.display = e.before ? "" : "none";
      if (e.before) { load(before, e.before[0]); beforeText.textContent = e.before[1]; }
    }
  }
  choice.addEventListener("change", function () { fillExamples(); render(); });
  example.addEventListener("change", render);
  level.addEventListener("input", render);
  level.addEventListener("change", render);
})();
