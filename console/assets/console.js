// The console's only script (the Content-Security-Policy allows no inline one): starts asciinema-player
// on the session page at the time and with the markers the server put in #player's data attributes.
(function () {
  'use strict';
  var el = document.getElementById('player');
  if (!el || typeof AsciinemaPlayer === 'undefined') return;
  var markers = JSON.parse(el.getAttribute('data-markers') || '[]');
  var startAt = Number(el.getAttribute('data-start') || '0');
  var startMarker = Number(el.getAttribute('data-start-marker') || '-1');
  var speedEl = document.getElementById('speed');
  var idleEl = document.getElementById('idle');
  var player;
  function create(at, play) {
    if (player) player.dispose();
    el.textContent = '';
    player = AsciinemaPlayer.create(el.getAttribute('data-cast'), el, {
      startAt: at,
      markers: markers,
      speed: Number(speedEl ? speedEl.value : 1),
      idleTimeLimit: idleEl && idleEl.checked ? 2 : undefined,
      fit: 'width',
      preload: true,
      autoPlay: play,
      pauseOnMarkers: false,
    });
    window.srecPlayer = player;
  }
  create(startAt, false);
  // Opened at a search hit or an event: show that moment, paused. The marker, not the time: with idle
  // time skipped the player's clock runs behind the recording's.
  if (startMarker >= 0) player.seek({ marker: startMarker });
  function recreate() {
    Promise.resolve(player.getCurrentTime()).then(function (t) {
      create(t || 0, true);
    });
  }
  if (speedEl) speedEl.addEventListener('change', recreate);
  if (idleEl) idleEl.addEventListener('change', recreate);
})();
