/**
 * The webhook endpoint portal: one page, no framework. It reads its token from the URL fragment (never sent to the
 * server), drops it from the address bar, and calls the portal's JSON routes with it in X-Shoal-Portal-Token. Every
 * value from the server is inserted as text, never as HTML.
 */
export const PORTAL_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Shoal webhooks</title>
<style>
body{font:14px system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.35rem;text-align:left;vertical-align:top}
code{font-size:12px;word-break:break-all}input[type=url],input[type=text]{width:100%}
fieldset{border:1px solid #ccc;margin:.5rem 0}#error{color:#b00}button{margin-right:.3rem}
</style></head><body>
<h1>Webhook endpoints</h1>
<p id="error" role="alert"></p>
<table><thead><tr><th>URL</th><th>Events</th><th>Signing secret</th><th></th></tr></thead><tbody id="endpoints"></tbody></table>
<h2 id="form-title">Add an endpoint</h2>
<form id="form">
<input type="hidden" id="ep-id">
<label>URL <input type="url" id="ep-url" required maxlength="2048" placeholder="https://example.com/webhooks"></label>
<label>Description <input type="text" id="ep-desc" maxlength="500"></label>
<fieldset><legend>Events (none checked: all)</legend><div id="ep-types"></div></fieldset>
<label><input type="checkbox" id="ep-disabled"> Disabled</label>
<p><button type="submit">Save</button><button type="button" id="ep-cancel">Cancel</button></p>
</form>
<h2>Recent messages</h2>
<table><thead><tr><th>Time</th><th>Event</th><th>Deliveries</th><th></th></tr></thead><tbody id="messages"></tbody></table>
<pre id="attempts"></pre>
<script>
(function () {
  var token = new URLSearchParams(location.hash.slice(1)).get('token') || sessionStorage.getItem('shoalPortalToken') || '';
  if (location.hash) { sessionStorage.setItem('shoalPortalToken', token); history.replaceState(null, '', location.pathname); }
  var base = location.pathname.replace(/\\/portal\\/?$/, '/portal');
  var $ = function (id) { return document.getElementById(id); };
  function el(tag, text) { var e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); return e; }
  function api(method, path, body) {
    return fetch(base + path, { method: method, headers: Object.assign({ 'x-shoal-portal-token': token }, body ? { 'content-type': 'application/json' } : {}), body: body ? JSON.stringify(body) : undefined })
      .then(function (r) { return r.status === 204 ? null : r.json().then(function (j) { if (!r.ok) throw new Error([].concat(j.message).join('; ')); return j; }); });
  }
  function fail(e) { $('error').textContent = e.message; }
  var types = [];
  function resetForm() { $('ep-id').value = ''; $('ep-url').value = ''; $('ep-desc').value = ''; $('ep-disabled').checked = false; $('form-title').textContent = 'Add an endpoint';
    Array.prototype.forEach.call(document.querySelectorAll('#ep-types input'), function (c) { c.checked = false; }); }
  function edit(ep) { $('ep-id').value = ep.id; $('ep-url').value = ep.url; $('ep-desc').value = ep.description; $('ep-disabled').checked = ep.disabled; $('form-title').textContent = 'Edit ' + ep.id;
    Array.prototype.forEach.call(document.querySelectorAll('#ep-types input'), function (c) { c.checked = ep.eventTypes.indexOf(c.value) >= 0; }); }
  function load() {
    $('error').textContent = '';
    api('GET', '/endpoints').then(function (eps) {
      var tb = $('endpoints'); tb.textContent = '';
      eps.forEach(function (ep) {
        var tr = el('tr'); var u = el('td'); u.appendChild(el('code', ep.url)); if (ep.description) u.appendChild(el('div', ep.description)); if (ep.disabled) u.appendChild(el('div', '(disabled)'));
        tr.appendChild(u); tr.appendChild(el('td', ep.eventTypes.length ? ep.eventTypes.join(', ') : 'all'));
        var s = el('td'); var code = el('code', '\\u2022\\u2022\\u2022\\u2022'); var show = el('button', 'Show'); show.type = 'button';
        show.onclick = function () { code.textContent = ep.secret; show.remove(); }; s.appendChild(code); s.appendChild(show); tr.appendChild(s);
        var a = el('td'); var e = el('button', 'Edit'); e.onclick = function () { edit(ep); }; var d = el('button', 'Delete');
        d.onclick = function () { if (confirm('Delete ' + ep.url + '?')) api('DELETE', '/endpoints/' + encodeURIComponent(ep.id)).then(load, fail); };
        a.appendChild(e); a.appendChild(d); tr.appendChild(a); tb.appendChild(tr);
      });
    }).catch(fail);
    api('GET', '/messages?limit=50').then(function (msgs) {
      var tb = $('messages'); tb.textContent = '';
      msgs.forEach(function (m) {
        var tr = el('tr'); tr.appendChild(el('td', m.createdAt)); tr.appendChild(el('td', m.eventType));
        tr.appendChild(el('td', m.deliveries.map(function (d) { return d.state + ' (' + d.attempts + ')'; }).join(', ')));
        var a = el('td'); var b = el('button', 'Attempts'); b.onclick = function () {
          api('GET', '/messages/' + encodeURIComponent(m.id) + '/attempts').then(function (at) { $('attempts').textContent = JSON.stringify({ message: m, attempts: at }, null, 2); }, fail); };
        a.appendChild(b); tr.appendChild(a); tb.appendChild(tr);
      });
    }).catch(fail);
  }
  $('form').onsubmit = function (ev) {
    ev.preventDefault();
    var body = { url: $('ep-url').value, description: $('ep-desc').value, disabled: $('ep-disabled').checked,
      eventTypes: Array.prototype.filter.call(document.querySelectorAll('#ep-types input'), function (c) { return c.checked; }).map(function (c) { return c.value; }) };
    var id = $('ep-id').value;
    (id ? api('PATCH', '/endpoints/' + encodeURIComponent(id), body) : api('POST', '/endpoints', body)).then(function () { resetForm(); load(); }, fail);
  };
  $('ep-cancel').onclick = resetForm;
  api('GET', '/event-types').then(function (t) {
    types = t; var box = $('ep-types');
    types.forEach(function (name) { var l = el('label'); var c = el('input'); c.type = 'checkbox'; c.value = name; l.appendChild(c); l.appendChild(document.createTextNode(' ' + name + ' ')); box.appendChild(l); });
    load();
  }).catch(fail);
})();
</script></body></html>
`;
