// Coffer checkout: enhancements only. The page is complete without this
// file (it refreshes itself); with it, the server's own <main> fragment
// arrives over an event stream and replaces the old one, copy buttons
// work, the countdown ticks near the end, a browser wallet can pay in one
// click, and a settled page returns to the shop. No third-party code, no
// eval, no inline script: the Content-Security-Policy forbids all three.
"use strict";

(function () {
  var redirectTimer = null;
  var countdownTimer = null;

  function main() {
    return document.getElementById("checkout");
  }

  function enhance() {
    var root = main();
    if (!root) return;
    root.querySelectorAll("button.copy").forEach(function (button) {
      if (!navigator.clipboard) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
          var label = button.textContent;
          button.textContent = root.getAttribute("data-copied");
          setTimeout(function () { button.textContent = label; }, 1500);
        });
      });
    });
    var wallet = document.getElementById("browser-wallet");
    if (wallet && window.ethereum && typeof window.ethereum.request === "function") {
      wallet.hidden = false;
      wallet.addEventListener("click", function () { payWithBrowserWallet(wallet); });
    }
    tickCountdown();
    var redirect = root.getAttribute("data-redirect");
    if (redirect && redirectTimer === null) {
      redirectTimer = setTimeout(function () { window.location.assign(redirect); }, 5000);
    }
  }

  function tickCountdown() {
    if (countdownTimer !== null) clearInterval(countdownTimer);
    var el = document.getElementById("countdown");
    if (!el) return;
    var expires = Number(el.getAttribute("data-expires"));
    var near = Number(el.getAttribute("data-near")) * 1000;
    var template = el.getAttribute("data-template");
    function tick() {
      var left = Math.max(0, expires - Date.now());
      var secs = Math.floor(left / 1000);
      var text = Math.floor(secs / 60) + ":" + String(secs % 60).padStart(2, "0");
      el.textContent = template.replace("{time}", text);
      el.hidden = left > near;
    }
    tick();
    countdownTimer = setInterval(tick, 1000);
  }

  // EIP-1193: ask the injected wallet to switch to the invoice's chain and
  // send exactly what the server put in the button's data attributes.
  function payWithBrowserWallet(button) {
    var eth = window.ethereum;
    var chain = button.getAttribute("data-chain");
    eth.request({ method: "eth_requestAccounts" }).then(function (accounts) {
      return eth.request({ method: "wallet_switchEthereumChain", params: [{ chainId: chain }] }).then(function () {
        var tx = { from: accounts[0], to: button.getAttribute("data-to"), value: button.getAttribute("data-value") };
        var data = button.getAttribute("data-data");
        if (data) tx.data = data;
        return eth.request({ method: "eth_sendTransaction", params: [tx] });
      });
    }).catch(function (err) {
      button.title = (err && err.message) || String(err);
    });
  }

  function listen() {
    var root = main();
    if (!root || !window.EventSource) return;
    var path = root.getAttribute("data-events");
    if (!path) return;
    var source = new EventSource(path);
    source.addEventListener("state", function (event) {
      var current = main();
      if (!current) return;
      var holder = document.createElement("div");
      holder.innerHTML = event.data;
      var next = holder.firstElementChild;
      if (!next || next.id !== "checkout") return;
      current.replaceWith(next);
      enhance();
    });
    source.addEventListener("end", function () { source.close(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhance();
    listen();
  });
})();
