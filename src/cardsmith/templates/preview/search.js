(function () {
  var box = document.getElementById("search");
  var status = document.getElementById("shown");
  var items = Array.prototype.slice.call(document.querySelectorAll("li[data-text]"));
  function filter() {
    var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    items.forEach(function (li) {
      var text = li.getAttribute("data-text");
      var hit = words.every(function (w) { return text.indexOf(w) !== -1; });
      li.hidden = !hit;
      if (hit) shown += 1;
    });
    document.querySelectorAll("section[data-group]").forEach(function (section) {
      section.hidden = !section.querySelector("li[data-text]:not([hidden])");
    });
    status.textContent = shown + " of " + items.length + " cards";
  }
  box.addEventListener("input", filter);
  filter();
})();
