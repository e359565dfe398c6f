/*
 * guideline-qa chat widget: the "Have a follow-up question?" box.
 *
 * Embed with:  <script src="https://HOST/widget.js" data-article-id="ARTICLE_ID" defer></script>
 * Optional attributes: data-target (CSS selector of the element to mount into; default: right after the
 * script tag), data-api-base (service URL; default: where widget.js came from), data-timeout-ms (default
 * 30000), data-suggestions ("question one|question two").
 *
 * Safety rule for this file: every piece of text that comes from the service (answers, passages, titles,
 * guidance) or from the user is put into the page with textContent / createTextNode, never as HTML, so
 * neither the corpus nor a model nor a user can inject markup or script.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script) return;

  /* Request limits: the service's own, from GET /v1/limits at start (service/models.py); these defaults
     only stand in until it answers, or if it cannot. */
  var limits = { max_question_chars: 2000, max_turn_chars: 4000, max_history_turns: 20, max_comment_chars: 2000 };
  var scriptUrl = new URL(script.src, document.baseURI);
  var apiBase = (script.dataset.apiBase || scriptUrl.origin).replace(/\/+$/, "");
  var articleId = script.dataset.articleId || null;
  var timeoutMs = parseInt(script.dataset.timeoutMs || "30000", 10) || 30000;
  var suggestions = (script.dataset.suggestions || "")
    .split("|")
    .map(function (s) { return s.trim(); })
    .filter(Boolean);
  var uid = "gqa" + Math.random().toString(36).slice(2, 8);

  // ---- small DOM helpers (text only) -------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  var SVG_NS = "http://www.w3.org/2000/svg";
  var THUMB = "M2 21h4V9H2v12zm20-11c0-1.1-.9-2-2-2h-6.3l1-4.6v-.3c0-.4-.2-.8-.4-1.1L13.2 1 6.6 7.6" +
    "C6.2 7.9 6 8.4 6 9v10c0 1.1.9 2 2 2h9c.8 0 1.5-.5 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7v-2z";

  function thumbIcon(down) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "18");
    svg.setAttribute("height", "18");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    if (down) svg.setAttribute("class", "gqa-icon-down");
    var path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", THUMB);
    path.setAttribute("fill", "currentColor");
    svg.appendChild(path);
    return svg;
  }

  function ensureStylesheet() {
    if (document.querySelector("link[data-gqa-css]")) return;
    document.head.appendChild(
      el("link", { rel: "stylesheet", href: new URL("widget.css", scriptUrl).href, "data-gqa-css": true })
    );
  }

  // ---- errors in plain words ---------------------------------------------------------------------
  function HttpError(status, detail) {
    this.name = "HttpError";
    this.status = status;
    this.detail = detail;
  }

  function StreamUnusable(reason) {
    this.name = "StreamUnusable";
    this.reason = reason;
  }

  function describeDetail(detail) {
    if (!detail) return "";
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail) && detail.length) {
      var first = detail[0] || {};
      var where = (first.loc || []).filter(function (p) { return p !== "body"; }).join(".");
      return (where ? where + ": " : "") + (first.msg || "");
    }
    return "";
  }

  function plainError(err) {
    if (err && err.name === "AbortError") {
      return "The answering service took too long to reply (more than " + Math.round(timeoutMs / 1000) +
        " seconds). Please try again.";
    }
    if (err instanceof HttpError) {
      if (err.status === 503) {
        return "The answering service is not ready at the moment (it may be starting up). " +
          "Please try again in a minute.";
      }
      if (err.status === 429) return "Too many questions in a short time. Please wait a minute and try again.";
      if (err.status >= 400 && err.status < 500) {
        var why = describeDetail(err.detail);
        return "The question could not be sent" + (why ? ": " + why : ".");
      }
      return "The answering service ran into a problem (error " + err.status + "). Please try again.";
    }
    if (err instanceof SyntaxError || err instanceof StreamUnusable) {
      return "The answering service sent a reply that could not be read. Please try again.";
    }
    return "Cannot reach the answering service. It may be down, or your connection may be offline. " +
      "Please try again in a moment.";
  }

  async function httpError(res) {
    var detail = null;
    try {
      detail = (await res.json()).detail;
    } catch (e) {
      detail = null;
    }
    return new HttpError(res.status, detail);
  }

  // ---- talking to the service --------------------------------------------------------------------
  function parseEvent(block) {
    var event = "message";
    var data = [];
    block.split("\n").forEach(function (line) {
      if (line.indexOf("event:") === 0) event = line.slice(6).trim();
      else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
    });
    return data.length ? { event: event, data: data.join("\n") } : null;
  }

  /* POST /v1/ask/stream; calls onPiece(text) per sentence event and resolves with the final event's data. */
  async function askStream(body, signal, onPiece) {
    var res = await fetch(apiBase + "/v1/ask/stream", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(body),
      signal: signal,
    });
    if (!res.ok) throw await httpError(res);
    var type = res.headers.get("content-type") || "";
    if (!res.body || type.indexOf("text/event-stream") !== 0) throw new StreamUnusable("not an event stream");
    var reader = res.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    var final = null;

    function handle(block) {
      var message = parseEvent(block);
      if (!message) return;
      var data;
      try {
        data = JSON.parse(message.data);
      } catch (e) {
        throw new StreamUnusable("malformed event");
      }
      if (message.event === "sentence") onPiece(String(data.text || ""));
      else if (message.event === "final") final = data;
      else if (message.event === "error") throw new HttpError(data.status || 500, data.detail);
    }

    for (;;) {
      var chunk = await reader.read();
      var text = buffer + (chunk.done ? decoder.decode() : decoder.decode(chunk.value, { stream: true }));
      // A "\r" at the end may be the first half of "\r\n": keep it raw until the next chunk decides.
      var pending = !chunk.done && text.slice(-1) === "\r" ? "\r" : "";
      buffer = (pending ? text.slice(0, -1) : text).replace(/\r\n?/g, "\n");
      var cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        handle(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
      }
      buffer += pending;
      if (chunk.done) break;
    }
    if (buffer.trim()) handle(buffer); // a last event without its closing blank line
    if (!final) throw new StreamUnusable("stream ended before the final event");
    return final;
  }

  async function askOnce(body, signal) {
    var res = await fetch(apiBase + "/v1/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
      signal: signal,
    });
    if (!res.ok) throw await httpError(res);
    return res.json();
  }

  /* Stream when possible; on a broken or unsupported stream (not on a refusal from the service) ask again
     without streaming, so a proxy that buffers or cuts event streams does not cost the clinician an answer. */
  async function ask(body, signal, onPiece, onRestart) {
    try {
      return await askStream(body, signal, onPiece);
    } catch (err) {
      if (err instanceof HttpError || (err && err.name === "AbortError")) throw err;
      onRestart();
      return askOnce(body, signal);
    }
  }

  async function sendFeedback(payload) {
    var res = await fetch(apiBase + "/v1/feedback", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(payload),
    });
    if (!res.ok) throw await httpError(res);
    return res.json();
  }

  // ---- rendering ---------------------------------------------------------------------------------
  function metaLine(c) {
    return [c.organisation || c.journal, c.year].filter(Boolean).join(" · ");
  }

  /* Where in the source: "p. 12" (or "pp. 12–13"), "Rec 1.3.4 · Class I, LOE B-R"; empty when unknown. */
  function locatorLine(c) {
    var parts = [];
    if (c.page) parts.push(c.page_end ? "pp. " + c.page + "–" + c.page_end : "p. " + c.page);
    if (c.rec) parts.push("Rec " + c.rec);
    if (c.grade) parts.push(c.grade);
    return parts.join(" · ");
  }

  /* Sections arrive as "Title › Section › Subsection"; the title is shown on its own, so drop it here. */
  function sectionPath(c) {
    var section = String(c.section || "");
    var prefix = String(c.title || "") + " › ";
    return section.indexOf(prefix) === 0 ? section.slice(prefix.length) : section;
  }

  function categoryLabel(category) {
    var words = String(category || "emergency").replace(/_/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  /* The fixed guidance is short Markdown (a heading, numbered steps, paragraphs): shown as text elements. */
  function renderGuidance(text) {
    var box = el("div", { className: "gqa-guidance" });
    var list = null;
    text.split(/\n/).forEach(function (raw) {
      var line = raw.trim();
      if (!line) {
        list = null;
        return;
      }
      var step = /^(\d+)[.)]\s+(.*)$/.exec(line);
      var bullet = /^[-*]\s+(.*)$/.exec(line);
      var heading = /^#{1,6}\s+(.*)$/.exec(line);
      if (heading) {
        list = null;
        box.appendChild(el("p", { className: "gqa-guidance-heading", text: heading[1] }));
      } else if (step || bullet) {
        var kind = step ? "ol" : "ul";
        if (!list || list.tagName.toLowerCase() !== kind) {
          list = el(kind);
          box.appendChild(list);
        }
        list.appendChild(el("li", { text: step ? step[2] : bullet[1] }));
      } else {
        list = null;
        box.appendChild(el("p", { text: line }));
      }
    });
    return box;
  }

  function Widget(mount) {
    this.mount = mount;
    this.history = [];
    this.busy = false;
    this.build();
  }

  Widget.prototype.build = function () {
    var self = this;
    var titleId = uid + "-title";
    var inputId = uid + "-q";
    var hintId = uid + "-hint";
    this.log = el("div", {
      className: "gqa-log",
      role: "log",
      "aria-live": "polite",
      "aria-label": "Conversation with the guideline assistant",
    });
    this.empty = el("div", { className: "gqa-empty" }, [
      el("p", {
        text: "Ask about this article. Answers are drawn only from curated guideline content, " +
          "and every sentence links to the passage it comes from.",
      }),
    ]);
    if (suggestions.length) {
      var list = el("ul", { className: "gqa-suggestions", "aria-label": "Example questions" });
      suggestions.forEach(function (q) {
        list.appendChild(el("li", {}, [
          el("button", { type: "button", className: "gqa-chip", text: q, onclick: function () { self.send(q); } }),
        ]));
      });
      this.empty.appendChild(list);
    }
    this.log.appendChild(this.empty);

    this.input = el("textarea", {
      id: inputId,
      className: "gqa-input",
      rows: "2",
      maxlength: String(limits.max_question_chars),
      placeholder: "Type a follow-up question…",
      "aria-describedby": hintId,
      autocomplete: "off",
    });
    this.input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        self.submit();
      }
    });
    this.sendButton = el("button", { type: "submit", className: "gqa-send", text: "Ask" });
    this.resetButton = el("button", {
      type: "button",
      className: "gqa-reset",
      text: "New chat",
      title: "Clear this conversation and start a new one",
      hidden: true,
      onclick: function () { self.reset(); },
    });
    this.form = el("form", { className: "gqa-form", novalidate: true }, [
      el("label", { for: inputId, className: "gqa-label", text: "Your question" }),
      this.input,
      el("div", { className: "gqa-row" }, [
        el("span", { id: hintId, className: "gqa-hint", text: "Enter to send · Shift+Enter: new line" }),
        this.sendButton,
      ]),
    ]);
    this.form.addEventListener("submit", function (event) {
      event.preventDefault();
      self.submit();
    });

    this.dialog = el("dialog", { className: "gqa-dialog", "aria-labelledby": uid + "-src-title" });
    this.dialog.addEventListener("click", function (event) {
      if (event.target === self.dialog) self.dialog.close(); // a click on the backdrop
    });
    this.dialog.addEventListener("close", function () {
      if (self.opener && document.contains(self.opener)) self.opener.focus();
    });

    this.root = el("section", { className: "gqa", "aria-labelledby": titleId }, [
      el("header", { className: "gqa-head" }, [
        el("div", { className: "gqa-head-row" }, [
          el("h2", { id: titleId, className: "gqa-title", text: "Have a follow-up question?" }),
          this.resetButton,
        ]),
        el("p", {
          className: "gqa-disclaimer",
          text: "For healthcare professionals. Decision support drawn from published guidance; it does not " +
            "replace clinical judgement or local protocols.",
        }),
      ]),
      this.log,
      this.form,
      this.dialog,
    ]);
    this.mount.appendChild(this.root);
  };

  Widget.prototype.reset = function () {
    if (this.busy) return;
    this.history = [];
    while (this.log.firstChild) this.log.removeChild(this.log.firstChild);
    this.log.appendChild(this.empty);
    this.resetButton.hidden = true;
    this.input.focus();
  };

  Widget.prototype.submit = function () {
    var question = this.input.value.trim();
    if (!question || this.busy) return;
    this.input.value = "";
    this.send(question);
  };

  Widget.prototype.scrollToEnd = function () {
    this.log.scrollTop = this.log.scrollHeight;
  };

  /* A finished answer is read from its start (for a red flag the banner's heading must not be scrolled
     away), so the log shows the question and the top of the answer, and the log itself is brought into view. */
  Widget.prototype.showFromStart = function (question) {
    this.log.scrollTop = Math.max(0, question.offsetTop - 6);
    var box = this.log.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) this.log.scrollIntoView({ block: "nearest" });
  };

  Widget.prototype.setBusy = function (busy) {
    this.busy = busy;
    this.sendButton.disabled = busy;
    this.resetButton.disabled = busy;
    this.log.setAttribute("aria-busy", busy ? "true" : "false");
    this.sendButton.textContent = busy ? "Asking…" : "Ask";
  };

  Widget.prototype.send = async function (question) {
    var self = this;
    if (this.busy) return;
    if (this.empty.parentNode) this.log.removeChild(this.empty);
    this.resetButton.hidden = false;
    var history = this.history.slice(-limits.max_history_turns);
    var body = { question: question.slice(0, limits.max_question_chars), history: history };
    if (articleId) body.article_id = articleId;

    var asked = el("div", { className: "gqa-turn gqa-user" }, [
      el("p", { className: "gqa-who", text: "You" }),
      el("p", { className: "gqa-text", text: question }),
    ]);
    this.log.appendChild(asked);
    var status = el("p", { className: "gqa-status", role: "status" }, [
      el("span", { className: "gqa-spinner", "aria-hidden": "true" }),
      "Searching the guidelines…",
    ]);
    var streamed = el("p", { className: "gqa-answer gqa-streaming" });
    var turn = el("div", { className: "gqa-turn gqa-bot", "aria-busy": "true" }, [
      el("p", { className: "gqa-who", text: "Guideline answer" }),
      status,
      streamed,
    ]);
    this.log.appendChild(turn);
    this.scrollToEnd();
    this.setBusy(true);

    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, timeoutMs);
    var pieces = [];
    try {
      var response = await ask(
        body,
        controller.signal,
        function (piece) {
          pieces.push(piece);
          if (status.parentNode) turn.removeChild(status);
          streamed.textContent = pieces.join(" ");
          self.scrollToEnd();
        },
        function () {
          pieces = [];
          streamed.textContent = "";
        }
      );
      this.renderAnswer(turn, response, { question: question, history: history, body: body });
      this.history = history.concat([
        { role: "user", content: question.slice(0, limits.max_turn_chars) },
        { role: "assistant", content: String(response.answer || "").slice(0, limits.max_turn_chars) },
      ]);
    } catch (err) {
      this.renderError(turn, err, question);
    } finally {
      clearTimeout(timer);
      turn.removeAttribute("aria-busy");
      this.setBusy(false);
      this.showFromStart(asked);
    }
  };

  Widget.prototype.renderError = function (turn, err, question) {
    var self = this;
    while (turn.childNodes.length > 1) turn.removeChild(turn.lastChild);
    turn.classList.add("gqa-failed");
    turn.firstChild.textContent = "Not answered";
    turn.appendChild(el("div", { className: "gqa-error", role: "alert" }, [
      el("p", { text: plainError(err) }),
      el("button", {
        type: "button",
        className: "gqa-retry",
        text: "Try again",
        onclick: function () {
          if (self.busy) return;
          self.log.removeChild(turn.previousSibling);
          self.log.removeChild(turn);
          self.send(question);
        },
      }),
    ]));
  };

  Widget.prototype.renderAnswer = function (turn, response, asked) {
    while (turn.childNodes.length > 1) turn.removeChild(turn.lastChild);
    turn.dataset.mode = response.mode || "";
    turn.dataset.answerId = response.answer_id || "";
    if (response.mode === "red_flag" && response.red_flag) {
      turn.classList.add("gqa-redflag-turn");
      turn.firstChild.textContent = "Safety alert";
      turn.appendChild(this.redFlagBanner(response.red_flag));
      if (response.related_answer) turn.appendChild(this.relatedAnswer(response.related_answer));
    } else if (response.mode === "abstain") {
      turn.appendChild(this.abstention(response));
    } else {
      var citations = {};
      (response.citations || []).forEach(function (c) { citations[c.n] = c; });
      turn.appendChild(this.citedText(String(response.answer || ""), citations, response));
      if ((response.citations || []).length) turn.appendChild(this.sourcesList(response));
    }
    turn.appendChild(this.feedbackRow(response, asked));
  };

  Widget.prototype.redFlagBanner = function (flag) {
    var guidance = String(flag.guidance || "");
    return el("div", { className: "gqa-redflag", role: "alert" }, [
      el("p", { className: "gqa-redflag-kicker" }, [
        el("span", { className: "gqa-redflag-icon", "aria-hidden": "true", text: "!" }),
        "Emergency — " + categoryLabel(flag.category),
      ]),
      el("p", {
        className: "gqa-redflag-lead",
        text: "The question describes a possible emergency. Act on this fixed safety guidance now.",
      }),
      renderGuidance(guidance),
      el("p", { className: "gqa-redflag-version", text: "Guidance version " + (flag.version || "unknown") }),
    ]);
  };

  /* The cited answer to the guideline question asked alongside the emergency: below the banner, collapsed,
     so the banner stays first and a false alarm costs one click rather than the answer. */
  Widget.prototype.relatedAnswer = function (related) {
    var citations = {};
    (related.citations || []).forEach(function (c) { citations[c.n] = c; });
    var body = el("div", { className: "gqa-related-body" }, [
      this.citedText(String(related.answer || ""), citations, related),
    ]);
    if ((related.citations || []).length) body.appendChild(this.sourcesList(related));
    return el("details", { className: "gqa-related" }, [
      el("summary", { text: "Guideline answer to the question you asked (after acting on the alert)" }),
      body,
    ]);
  };

  Widget.prototype.abstention = function (response) {
    var self = this;
    var topics = response.closest_topics || [];
    var said = String(response.answer || "");
    // The service's text goes on to list the nearby topics; they are shown as buttons below instead, so
    // only its first part (the statement) is shown as text.
    var parts = response.sentences || [];
    var statement = parts.length ? String(parts[0].text || "") : "";
    var box = el("div", { className: "gqa-abstain" }, [
      el("p", { className: "gqa-abstain-title", text: "Not covered by this guideline content" }),
      el("p", { className: "gqa-abstain-text", text: topics.length && statement ? statement : said }),
    ]);
    if (topics.length) {
      box.appendChild(el("p", { className: "gqa-abstain-hint", text: "Nearby topics that are covered:" }));
      var list = el("ul", { className: "gqa-topics" });
      topics.forEach(function (t) {
        var label = String(t.section || t.title || "").split(" › ").pop();
        list.appendChild(el("li", {}, [
          el("button", {
            type: "button",
            className: "gqa-chip",
            text: label,
            title: t.title,
            onclick: function () {
              self.input.value = "What does the guidance say about " + label.toLowerCase() + "?";
              self.input.focus();
            },
          }),
        ]));
      });
      box.appendChild(list);
    }
    return box;
  };

  /* The answer from its structured sentences (`{text, citations: [n…]}`, so no `[n]` is parsed back out of
     text): each sentence, then a button per citation that opens passage n; unknown numbers stay as text.
     An answer without sentences is shown as plain text. */
  Widget.prototype.citedText = function (answer, citations, response) {
    var self = this;
    var p = el("p", { className: "gqa-answer" });
    var sentences = response.sentences || [];
    if (!sentences.length) {
      p.textContent = answer;
      return p;
    }
    sentences.forEach(function (s, k) {
      if (k > 0) p.appendChild(document.createTextNode(" "));
      p.appendChild(document.createTextNode(String(s.text || "") + " "));
      (s.citations || []).forEach(function (n) {
        var c = citations[n];
        if (!c) {
          p.appendChild(document.createTextNode("[" + n + "]"));
          return;
        }
        p.appendChild(el("button", {
          type: "button",
          className: "gqa-cite",
          "data-n": String(n),
          "aria-label": "Source " + n + ": " + c.title + (c.section ? ", " + c.section : ""),
          "aria-haspopup": "dialog",
          text: "[" + n + "]",
          onclick: function (event) { self.openSource(c, response, event.currentTarget); },
        }));
      });
    });
    return p;
  };

  Widget.prototype.sourcesList = function (response) {
    var self = this;
    var headingId = uid + "-src-" + (response.answer_id || Math.random().toString(36).slice(2));
    var list = el("ol", { className: "gqa-sources", "aria-labelledby": headingId });
    (response.citations || []).forEach(function (c) {
      list.appendChild(el("li", { value: String(c.n) }, [
        el("button", {
          type: "button",
          className: "gqa-source",
          "aria-haspopup": "dialog",
          "data-n": String(c.n),
          onclick: function (event) { self.openSource(c, response, event.currentTarget); },
        }, [
          el("span", { className: "gqa-source-n", text: "[" + c.n + "]" }),
          el("span", { className: "gqa-source-title", text: c.title }),
        ]),
        el("span", { className: "gqa-source-section", text: sectionPath(c) }),
        el("span", { className: "gqa-source-meta", text: [metaLine(c), locatorLine(c)].filter(Boolean).join(" · ") }),
      ]));
    });
    return el("div", { className: "gqa-sources-box" }, [
      el("h3", { id: headingId, className: "gqa-sources-heading", text: "Sources" }),
      list,
    ]);
  };

  /* Passage text with the answer's sentences that cite it highlighted (found by plain string search). */
  function passageWithHighlights(text, sentences) {
    var ranges = [];
    sentences.forEach(function (s) {
      var at = s.length > 12 ? text.indexOf(s) : -1;
      if (at >= 0) ranges.push([at, at + s.length]);
    });
    ranges.sort(function (a, b) { return a[0] - b[0]; });
    var block = el("blockquote", { className: "gqa-passage" });
    var pos = 0;
    ranges.forEach(function (r) {
      if (r[0] < pos) return;
      block.appendChild(document.createTextNode(text.slice(pos, r[0])));
      block.appendChild(el("mark", { text: text.slice(r[0], r[1]) }));
      pos = r[1];
    });
    block.appendChild(document.createTextNode(text.slice(pos)));
    return block;
  }

  Widget.prototype.openSource = function (c, response, opener) {
    this.opener = opener;
    var sentences = (response.sentences || [])
      .filter(function (s) { return (s.citations || []).indexOf(c.n) >= 0; })
      .map(function (s) { return String(s.text || ""); });
    var d = this.dialog;
    while (d.firstChild) d.removeChild(d.firstChild);
    var close = el("button", {
      type: "button",
      className: "gqa-close",
      "aria-label": "Close source",
      text: "×",
      onclick: function () { d.close(); },
    });
    var meta = metaLine(c);
    d.appendChild(el("div", { className: "gqa-dialog-head" }, [
      el("p", { className: "gqa-dialog-n", text: "Source [" + c.n + "]" }),
      close,
    ]));
    d.appendChild(el("h3", { id: uid + "-src-title", className: "gqa-dialog-title", text: c.title }));
    if (sectionPath(c)) d.appendChild(el("p", { className: "gqa-dialog-section", text: sectionPath(c) }));
    if (meta) d.appendChild(el("p", { className: "gqa-dialog-meta", text: meta }));
    /* What kind of source this is and whether it has been reviewed ("AI-generated answer page, 2025,
       pending review"), and whose attribution the statements are when carried from another page. */
    if (c.provenance) d.appendChild(el("p", { className: "gqa-dialog-provenance", text: c.provenance }));
    if (c.attribution) {
      d.appendChild(el("p", { className: "gqa-dialog-attribution", text: "Attribution: " + c.attribution }));
    }
    if (locatorLine(c)) d.appendChild(el("p", { className: "gqa-dialog-locator", text: locatorLine(c) }));
    d.appendChild(passageWithHighlights(String(c.text || ""), sentences));
    if (c.source) d.appendChild(el("p", { className: "gqa-dialog-source", text: c.source }));
    d.appendChild(el("p", {
      className: "gqa-dialog-foot",
      text: "Passage as retrieved from " + (c.doc_id || "the corpus") +
        (response.index_version ? " (index " + response.index_version + ")" : ""),
    }));
    if (d.open) d.close();
    d.showModal();
    close.focus();
  };

  Widget.prototype.feedbackRow = function (response, asked) {
    var rating = null;
    var row = el("div", { className: "gqa-feedback", role: "group", "aria-label": "Rate this answer" });
    var note = el("p", { className: "gqa-feedback-note", role: "status" });
    var comment = el("textarea", {
      className: "gqa-comment",
      rows: "2",
      maxlength: String(limits.max_comment_chars),
      "aria-label": "Comment on this answer (optional)",
      placeholder: "What was wrong or missing? (optional)",
    });
    var commentSend = el("button", { type: "button", className: "gqa-comment-send", text: "Send comment" });
    var commentBox = el("div", { className: "gqa-comment-box", hidden: true }, [comment, commentSend]);

    /* Only the answer's id and the verdict: the service stores the question, answer and citations from its
       own record of the answer it gave, so they cannot be forged (or mangled) on the way back. */
    function payload() {
      var body = { answer_id: response.answer_id, rating: rating };
      var text = comment.value.trim();
      if (text) body.comment = text;
      return body;
    }

    async function submit(withComment) {
      note.textContent = "Saving…";
      try {
        await sendFeedback(payload());
        note.textContent = withComment ? "Thank you — your comment was recorded." :
          "Thank you — feedback recorded. You can add a comment below.";
        if (withComment) commentBox.hidden = true;
      } catch (err) {
        var why = "the service cannot be reached";
        if (err instanceof HttpError && err.status === 422) why = "it was refused (" + describeDetail(err.detail) + ")";
        else if (err instanceof HttpError && err.status === 404) why = "this answer can no longer be rated";
        else if (err instanceof HttpError && err.status === 429) why = "too much feedback was sent from here recently";
        else if (err instanceof HttpError && err.status === 507) why = "the feedback store is full";
        else if (err instanceof HttpError) why = "the service answered with error " + err.status;
        note.textContent = "Your feedback could not be saved: " + why + ". Please try again.";
      }
    }

    function thumb(value, label) {
      var button = el("button", {
        type: "button",
        className: "gqa-thumb gqa-thumb-" + value,
        "aria-pressed": "false",
        "aria-label": label,
        title: label,
        onclick: function () {
          rating = value;
          row.querySelectorAll(".gqa-thumb").forEach(function (b) {
            b.setAttribute("aria-pressed", b === button ? "true" : "false");
          });
          commentBox.hidden = false;
          submit(false);
        },
      }, [thumbIcon(value === "down")]);
      return button;
    }

    commentSend.addEventListener("click", function () {
      if (rating) submit(true);
    });
    row.appendChild(el("span", { className: "gqa-feedback-q", text: "Was this helpful?" }));
    row.appendChild(thumb("up", "Helpful"));
    row.appendChild(thumb("down", "Not helpful"));
    return el("div", { className: "gqa-feedback-box" }, [row, commentBox, note]);
  };

  function mountPoint() {
    var selector = script.dataset.target;
    var target = selector ? document.querySelector(selector) : null;
    if (target) return target;
    var div = el("div", { className: "gqa-mount" });
    script.parentNode.insertBefore(div, script.nextSibling);
    return div;
  }

  /* The service's request limits; the defaults stay if it cannot say (an older service, a network error). */
  async function loadLimits(widget) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, 5000);
    try {
      var res = await fetch(apiBase + "/v1/limits", {
        headers: { Accept: "application/json" },
        signal: controller.signal,
      });
      if (!res.ok) return;
      var served = await res.json();
      Object.keys(limits).forEach(function (key) {
        var value = parseInt(served[key], 10);
        if (value > 0) limits[key] = value;
      });
      widget.input.setAttribute("maxlength", String(limits.max_question_chars));
    } catch (e) {
      /* keep the defaults */
    } finally {
      clearTimeout(timer);
    }
  }

  function start() {
    ensureStylesheet();
    var widget = new Widget(mountPoint());
    loadLimits(widget);
    window.guidelineQA = window.guidelineQA || [];
    window.guidelineQA.push(widget);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
