// otree-manager's progressive enhancements. Every page works without this file; with it:
// live status over server-sent events, copy buttons, and typed confirmations that unlock their button.
'use strict';
(function () {
  // Copy buttons: <button data-copy="ID"> copies the text of #ID.
  document.addEventListener('click', function (event) {
    var button = event.target.closest && event.target.closest('button[data-copy]');
    if (!button) return;
    var source = document.getElementById(button.getAttribute('data-copy'));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var label = button.textContent;
      button.textContent = button.getAttribute('data-copied') || 'Copied';
      setTimeout(function () { button.textContent = label; }, 2000);
    });
  });

  // Typed confirmations: <input data-confirm="NAME"> enables its form's submit button only when it holds NAME.
  function checkConfirm(input) {
    var button = input.form && input.form.querySelector('button[type=submit]');
    if (button) button.disabled = input.value !== input.getAttribute('data-confirm');
  }
  document.querySelectorAll('input[data-confirm]').forEach(checkConfirm);
  document.addEventListener('input', function (event) {
    if (event.target.matches && event.target.matches('input[data-confirm]')) checkConfirm(event.target);
  });

  // Files read into a text field: <input type=file data-fill="ID"> puts the file's text into #ID.
  document.addEventListener('change', function (event) {
    var input = event.target;
    if (!input.matches || !input.matches('input[type=file][data-fill]') || !input.files[0]) return;
    var target = document.getElementById(input.getAttribute('data-fill'));
    input.files[0].text().then(function (text) { if (target) target.value = text; });
  });

  // Archive uploads: <form data-upload="URL"> posts the chosen file as it is, then shows the build's outcome.
  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!form.matches || !form.matches('form[data-upload]')) return;
    event.preventDefault();
    var file = form.querySelector('input[type=file]').files[0];
    if (!file) return;
    var outcome = form.parentNode.querySelector('[data-upload-outcome]');
    var details = form.parentNode.querySelector('[data-upload-details]');
    var output = form.parentNode.querySelector('[data-upload-output]');
    var button = form.querySelector('button[type=submit]');
    var name = file.name.toLowerCase();
    var type = /\.(otreezip|zip)$/.test(name) ? 'zip' : /\.(tgz|tar\.gz)$/.test(name) ? 'tar.gz' : 'tar';
    button.disabled = true;
    outcome.textContent = form.getAttribute('data-sending');
    fetch(form.getAttribute('data-upload') + '?type=' + encodeURIComponent(type), {
      method: 'POST', body: file, credentials: 'same-origin',
      headers: { 'content-type': 'application/octet-stream', 'x-csrf-token': form.getAttribute('data-csrf'), accept: 'application/json' },
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (answer) {
      var body = answer.body;
      if (!answer.ok) {
        outcome.textContent = form.getAttribute('data-refused').replace('{}', (body.error && body.error.message) || 'HTTP error');
        return;
      }
      outcome.textContent = body.success ? form.getAttribute('data-deployed') : form.getAttribute('data-failed').replace('{}', body.message || '');
      output.textContent = body.output.stdout.concat(body.output.stderr).join('\n');
      details.hidden = false;
    }).catch(function (err) {
      outcome.textContent = form.getAttribute('data-refused').replace('{}', String(err));
    }).finally(function () { button.disabled = false; });
  });

  // Live parts: an element with data-live-src names the event stream; each message replaces the
  // inner HTML of the elements whose data-live it names. One stream per tab; reconnects with backoff.
  var root = document.querySelector('[data-live-src]');
  if (!root || !window.EventSource) return;
  var state = document.querySelector('[data-live-state]');
  var delay = 1000;
  function show(text) { if (state) state.textContent = text; }
  function connect() {
    var source = new EventSource(root.getAttribute('data-live-src'));
    source.addEventListener('open', function () { delay = 1000; show(root.getAttribute('data-live-connected') || 'Live'); });
    source.addEventListener('parts', function (message) {
      var parts = JSON.parse(message.data);
      Object.keys(parts).forEach(function (key) {
        document.querySelectorAll('[data-live="' + CSS.escape(key) + '"]').forEach(function (element) { element.innerHTML = parts[key]; });
      });
      document.dispatchEvent(new CustomEvent('otm:live', { detail: Object.keys(parts) }));
    });
    source.addEventListener('error', function () {
      // The browser would retry at once, forever; back off instead (1 s doubling to a minute).
      source.close();
      show(root.getAttribute('data-live-reconnecting') || 'Reconnecting…');
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 60000);
    });
  }
  connect();
})();
