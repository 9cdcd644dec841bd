// Passkeys on oidcd's pages. Each form with `data-passkey` runs one WebAuthn ceremony with
// the options in its `data-options` (JSON from the server), puts the browser's answer in its
// `passkey_response` field and submits itself:
//   register  navigator.credentials.create (the account page);
//   sign-in   navigator.credentials.get with no account named (a discoverable passkey); with
//             `data-autofill` it is also offered in the username field's autofill
//             (conditional mediation);
//   verify    navigator.credentials.get for the signed-in person's passkeys (second factor).
// The forms are hidden until this script finds a browser that can use passkeys; without it
// the pages work with passwords and codes as before.
"use strict";
(function () {
  var PKC = window.PublicKeyCredential;
  if (!PKC || !PKC.parseCreationOptionsFromJSON || !PKC.parseRequestOptionsFromJSON) {
    return;
  }
  // The autofill request waiting in the background, stopped when a button starts another.
  var waiting = null;
  // Whether a button's ceremony is under way.
  var busy = false;

  function options(form) {
    return JSON.parse(form.getAttribute("data-options")).publicKey;
  }

  function say(form, words) {
    var status = form.querySelector("[data-passkey-status]");
    if (status) {
      status.textContent = words;
    }
  }

  // Sends the browser's answer; throws when it cannot be written down.
  function answer(form, credential) {
    form.elements.passkey_response.value = JSON.stringify(credential.toJSON());
    form.submit();
  }

  function failed(form, error) {
    if (error && error.name === "InvalidStateError") {
      say(form, "This passkey is registered already.");
    } else {
      say(form, "No passkey was used. Try again, or use another way.");
    }
  }

  function run(form) {
    if (busy) {
      return;
    }
    busy = true;
    if (waiting) {
      waiting.abort();
      waiting = null;
    }
    say(form, "");
    var call;
    try {
      call = form.getAttribute("data-passkey") === "register"
        ? navigator.credentials.create({ publicKey: PKC.parseCreationOptionsFromJSON(options(form)) })
        : navigator.credentials.get({ publicKey: PKC.parseRequestOptionsFromJSON(options(form)) });
    } catch (error) {
      busy = false;
      say(form, "This browser cannot use passkeys here.");
      return;
    }
    call.then(function (credential) {
      if (!credential) {
        throw new Error("no credential");
      }
      answer(form, credential);
    }).catch(function (error) {
      busy = false;
      failed(form, error);
      autofill(form);
    });
  }

  // Offers the form's passkeys in the username field's autofill, where the browser can.
  function autofill(form) {
    if (!form.hasAttribute("data-autofill") || !PKC.isConditionalMediationAvailable) {
      return;
    }
    PKC.isConditionalMediationAvailable().then(function (available) {
      if (!available || waiting || busy) {
        return;
      }
      var controller = new AbortController();
      waiting = controller;
      return navigator.credentials.get({
        mediation: "conditional",
        signal: controller.signal,
        publicKey: PKC.parseRequestOptionsFromJSON(options(form))
      }).then(function (credential) {
        if (waiting === controller) {
          waiting = null;
        }
        if (credential && !busy) {
          answer(form, credential);
        }
      });
    }).catch(function (error) {
      // Stopped for a button's ceremony, or dismissed: nothing to say. Anything else is.
      if (!error || error.name !== "AbortError" && error.name !== "NotAllowedError") {
        say(form, "The passkey could not be used. Try the button, or use another way.");
      }
    });
  }

  var forms = document.querySelectorAll("form[data-passkey]");
  Array.prototype.forEach.call(forms, function (form) {
    form.hidden = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      run(form);
    });
    autofill(form);
  });
})();
