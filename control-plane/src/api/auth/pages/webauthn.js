// The hosted pages' one script: a security key answers the form's WebAuthn challenge
// (navigator.credentials.get with the options the server put on the form), and the form posts
// the credential as JSON (publicKeyCredentialToJSON's shape). Without a key, or when the user
// cancels, the form posts an empty credential and the server says so.
(() => {
  const form = document.getElementById('webauthn');
  if (!form) return;
  const bytes = (s) => {
    const b = s.replace(/-/g, '+').replace(/_/g, '/');
    return Uint8Array.from(atob(b + '==='.slice((b.length + 3) % 4)), (c) => c.charCodeAt(0));
  };
  const text = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
    .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  form.addEventListener('submit', async (event) => {
    if (event.submitter && event.submitter.name === 'action') return;
    event.preventDefault();
    const options = JSON.parse(form.dataset.options);
    options.challenge = bytes(options.challenge);
    for (const c of options.allowCredentials || []) c.id = bytes(c.id);
    try {
      const cred = await navigator.credentials.get({ publicKey: options });
      const r = cred.response;
      form.elements.credential.value = JSON.stringify({
        id: cred.id, rawId: text(cred.rawId), type: cred.type,
        response: {
          clientDataJSON: text(r.clientDataJSON), authenticatorData: text(r.authenticatorData),
          signature: text(r.signature), userHandle: r.userHandle ? text(r.userHandle) : null,
        },
      });
    } catch (e) {
      form.elements.credential.value = '';
    }
    form.submit();
  });
})();
