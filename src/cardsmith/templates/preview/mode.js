(function () {
  var KEY = "cardsmith-preview-night";
  function saved() {
    if (location.hash === "#night") return true;
    if (location.hash === "#light") return false;
    try { return localStorage.getItem(KEY) === "1"; } catch (e) { return false; }
  }
  function apply(night) {
    document.documentElement.classList.toggle("night", night);
    document.querySelectorAll("iframe[data-night]").forEach(function (frame) {
      var want = frame.getAttribute(night ? "data-night" : "data-light");
      if (frame.getAttribute("src") !== want) frame.setAttribute("src", want);
    });
    document.querySelectorAll("a[data-mode]").forEach(function (a) {
      a.hash = night ? "night" : "light";
    });
    var button = document.getElementById("night");
    button.setAttribute("aria-pressed", night ? "true" : "false");
    try { localStorage.setItem(KEY, night ? "1" : "0"); } catch (e) {}
  }
  document.getElementById("night").addEventListener("click", function () {
    apply(!document.documentElement.classList.contains("night"));
  });
  apply(saved());
})();
