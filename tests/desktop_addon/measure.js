// Measures what a reader sees of the card now shown in Anki's reviewer (#qa), after the
// reviewer's own update queue (card HTML set, MathJax typeset) has run and images loaded.
// Sends one JSON message back through Anki's bridge: pycmd("cardsmith-measure:" + json).
(function () {
  "use strict";
  function parse(c) {
    var m = c.match(/rgba?\(([^)]*)\)/);
    if (!m) { return null; }
    var p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  }
  function over(top, bottom) {
    var a = top[3];
    return [0, 1, 2].map(function (i) { return top[i] * a + bottom[i] * (1 - a); }).concat([1]);
  }
  // The colour an element's text is drawn on: the backgrounds up the tree, composited
  // over the page canvas (the root's background, as the reviewer paints it).
  function background(el) {
    var layers = [];
    for (var e = el; e; e = e.parentElement) {
      var c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) { break; } }
    }
    var bg = [255, 255, 255, 1];
    for (var i = layers.length - 1; i >= 0; i--) { bg = over(layers[i], bg); }
    return bg;
  }
  function luminance(rgb) {
    var ch = rgb.slice(0, 3).map(function (v) {
      var c = v / 255;
      return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
  }
  function contrast(a, b) {
    var x = luminance(a), y = luminance(b);
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
  }
  function ownText(el) {
    return Array.prototype.some.call(el.childNodes, function (n) {
      return n.nodeType === 3 && n.textContent.trim() !== "";
    });
  }
  function rgb(c) { return c ? "rgb(" + c.slice(0, 3).map(Math.round).join(", ") + ")" : ""; }

  // Every element with text of its own inside a code block, against its background.
  function codeTokens(qa) {
    var worst = null, count = 0, low = [];
    qa.querySelectorAll(".highlight").forEach(function (block) {
      var all = [block].concat(Array.prototype.slice.call(block.querySelectorAll("*")));
      all.forEach(function (el) {
        if (!ownText(el)) { return; }
        var bg = background(el);
        var fg = over(parse(getComputedStyle(el).color), bg);
        var ratio = contrast(fg, bg);
        count += 1;
        var token = {cls: String(el.className), text: el.textContent.slice(0, 30),
                     ratio: Math.round(ratio * 100) / 100, color: rgb(fg), background: rgb(bg)};
        if (worst === null || ratio < worst.ratio) { worst = token; }
        if (ratio < 4.5 && low.length < 5) { low.push(token); }
      });
    });
    return {count: count, worst: worst, low: low};
  }

  // Code blocks: left-aligned text, the first line starting at the block's left padding.
  function codeAlignment(qa) {
    var out = [];
    qa.querySelectorAll(".highlight pre").forEach(function (pre) {
      var style = getComputedStyle(pre);
      var walker = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT);
      var node, offset = null;
      while ((node = walker.nextNode())) {
        var i = node.textContent.search(/\S/);
        if (i < 0) { continue; }
        var range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        var r = range.getBoundingClientRect();
        offset = r.left - (pre.getBoundingClientRect().left + parseFloat(style.paddingLeft) +
                           parseFloat(style.borderLeftWidth)) + pre.scrollLeft;
        break;
      }
      out.push({align: style.textAlign,
                blockAlign: getComputedStyle(pre.closest(".highlight")).textAlign,
                firstGlyphOffset: offset === null ? null : Math.round(offset * 10) / 10});
    });
    return out;
  }

  function isBlock(el) {
    var d = getComputedStyle(el).display;
    return !/^inline/.test(d) && d !== "contents";
  }
  function contentWidth(el) {
    var s = getComputedStyle(el);
    return el.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
  }
  // The width a word has to fit in: its nearest block's content box; inside a table, the
  // width the table itself may use (a table scrolls sideways rather than squeeze words).
  function availableWidth(el) {
    var table = el.closest("table");
    if (table && table.parentElement) { return contentWidth(table.parentElement); }
    for (var e = el; e; e = e.parentElement) {
      if (isBlock(e)) { return contentWidth(e); }
    }
    return window.innerWidth;
  }

  // Words (runs of letters and digits) whose glyphs sit on more than one line although
  // the whole word would fit on one: a break in the middle of a word.
  function brokenWords(qa) {
    var walker = document.createTreeWalker(qa, NodeFilter.SHOW_TEXT, {
      acceptNode: function (n) {
        var p = n.parentElement;
        if (!p || p.closest("pre, mjx-container, script, style, .MathJax")) {
          return NodeFilter.FILTER_REJECT;
        }
        return NodeFilter.FILTER_ACCEPT;
      }
    });
    var found = [], words = 0, node;
    var re = /[\p{L}\p{N}_]+/gu;
    while ((node = walker.nextNode())) {
      var text = node.textContent, m;
      re.lastIndex = 0;
      var available = null;
      while ((m = re.exec(text))) {
        if (m[0].length < 2) { continue; }
        words += 1;
        var range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        var rects = Array.prototype.filter.call(range.getClientRects(), function (r) {
          return r.width > 0;
        });
        if (rects.length < 2) { continue; }
        var tops = rects.map(function (r) { return r.top; });
        var lineHeight = Math.min.apply(null, rects.map(function (r) { return r.height; }));
        if (Math.max.apply(null, tops) - Math.min.apply(null, tops) < lineHeight / 2) {
          continue;
        }
        var width = rects.reduce(function (s, r) { return s + r.width; }, 0);
        if (available === null) { available = availableWidth(node.parentElement); }
        if (width <= available) {
          var lines = [], start = m.index;
          for (var i = m.index + 1; i <= m.index + m[0].length; i++) {
            var a = document.createRange();
            a.setStart(node, i - 1); a.setEnd(node, i);
            var b = document.createRange();
            if (i < m.index + m[0].length) { b.setStart(node, i); b.setEnd(node, i + 1); }
            var next = i < m.index + m[0].length ? b.getBoundingClientRect().top : null;
            if (next === null || Math.abs(next - a.getBoundingClientRect().top) > lineHeight / 2) {
              lines.push(text.slice(start, i)); start = i;
            }
          }
          found.push({word: m[0], shown: lines.join("|"), width: Math.round(width),
                      available: Math.round(available), inTable: !!node.parentElement.closest("table")});
        }
      }
    }
    return {words: words, broken: found};
  }

  // Elements reaching past the window's right edge without a scrolling box around them.
  function overflow(qa) {
    var root = document.documentElement, limit = root.clientWidth;
    var sticking = [];
    qa.querySelectorAll("*").forEach(function (el) {
      var r = el.getBoundingClientRect();
      if (r.width === 0 || r.right <= limit + 0.5) { return; }
      for (var e = el.parentElement; e && e !== qa; e = e.parentElement) {
        var ox = getComputedStyle(e).overflowX;
        if (ox !== "visible" && ox !== "clip") { return; }
      }
      if (sticking.length < 5) {
        sticking.push({tag: el.tagName.toLowerCase(), cls: String(el.className),
                       right: Math.round(r.right)});
      }
    });
    return {scrollWidth: root.scrollWidth, clientWidth: root.clientWidth,
            bodyScrollWidth: document.body.scrollWidth, sticking: sticking,
            scrollingBlocks: Array.prototype.filter.call(qa.querySelectorAll("pre, table"),
              function (e) { return e.scrollWidth > e.clientWidth; }).length};
  }

  function images(qa) {
    return Array.prototype.map.call(qa.querySelectorAll("img"), function (img) {
      return {src: img.getAttribute("src"), complete: img.complete,
              naturalWidth: img.naturalWidth, width: Math.round(img.getBoundingClientRect().width)};
    });
  }
  function imagesLoaded(qa) {
    var waits = Array.prototype.map.call(qa.querySelectorAll("img"), function (img) {
      if (img.complete) { return Promise.resolve(); }
      return new Promise(function (resolve) {
        img.addEventListener("load", resolve); img.addEventListener("error", resolve);
      });
    });
    var timeout = new Promise(function (resolve) { setTimeout(resolve, 5000); });
    return Promise.race([Promise.all(waits), timeout]);
  }

  function rule() {
    var hr = document.getElementById("answer");
    if (!hr) { return null; }
    var s = getComputedStyle(hr), r = hr.getBoundingClientRect();
    return {height: Math.round(r.height * 10) / 10, background: s.backgroundColor,
            borderTop: s.borderTopWidth + " " + s.borderTopStyle + " " + s.borderTopColor,
            borderBottom: s.borderBottomWidth + " " + s.borderBottomStyle};
  }

  function measure() {
    var qa = document.getElementById("qa");
    var text = qa.innerText;
    return {
      viewport: window.innerWidth,
      bodyClass: document.body.className,
      bodyBackground: getComputedStyle(document.body).backgroundColor,
      rootBackground: getComputedStyle(document.documentElement).backgroundColor,
      textColor: getComputedStyle(document.body).color,
      textContrast: Math.round(contrast(parse(getComputedStyle(document.body).color),
                                        background(document.body)) * 100) / 100,
      text: text.slice(0, 4000),
      overflow: overflow(qa),
      words: brokenWords(qa),
      code: codeTokens(qa),
      alignment: codeAlignment(qa),
      images: images(qa),
      clozes: Array.prototype.map.call(qa.querySelectorAll(".cloze"), function (c) {
        return c.textContent;
      }),
      math: qa.querySelectorAll("mjx-container").length,
      mathErrors: qa.querySelectorAll("mjx-merror, merror, [data-mjx-error]").length,
      rawMath: /\\\(|\\\[/.test(text),
      rule: rule(),
      // The content's own height (the document's is never less than the window's).
      height: Math.ceil(qa.getBoundingClientRect().bottom + window.scrollY +
                        parseFloat(getComputedStyle(document.body).paddingBottom) + 16)
    };
  }

  _queueAction(function () {
    var qa = document.getElementById("qa");
    return imagesLoaded(qa).then(function () {
      return new Promise(function (resolve) { requestAnimationFrame(function () { resolve(); }); });
    }).then(function () {
      var result;
      try { result = measure(); } catch (e) { result = {error: String(e) + "\n" + e.stack}; }
      pycmd("cardsmith-measure:" + JSON.stringify(result));
    });
  });
})();
