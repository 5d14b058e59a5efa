// Sign-in and sign-out: the dialog, the Log out button, and what signing out forgets.

import { login, logout } from "./api.js";

const $ = (id) => document.getElementById(id);

export class AuthUI {
  constructor(v) {
    this.v = v;
    $("login-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    $("login").addEventListener("cancel", (e) => e.preventDefault()); // nothing to show without signing in
    $("logout").addEventListener("click", () => this.signOut());
  }

  show(mode, message = "") {
    const v = this.v;
    v.authMode = mode;
    v.connState = "login";
    v.status.update();
    const basic = mode === "basic";
    $("login-user").hidden = !basic;
    $("login-user-label").hidden = !basic;
    $("login-user").required = basic;
    $("login-secret-label").textContent = basic ? "Password" : "Token";
    $("login-hint").textContent = message || (basic ? "This sidecar requires a user name and password." : "This sidecar requires an access token.");
    $("login-error").textContent = "";
    const dialog = $("login");
    if (!dialog.open) dialog.showModal();
    (basic ? $("login-user") : $("login-secret")).focus();
  }

  /** The stream is open: show Log out when the sidecar asks for auth. */
  signedIn() {
    if (this.v.authMode) $("logout").hidden = false;
  }

  async submit() {
    const v = this.v;
    $("login-submit").disabled = true;
    try {
      const response = await login(v.authMode, $("login-user").value, $("login-secret").value);
      if (response.ok) {
        $("login-secret").value = ""; // the secret is not kept anywhere
        $("login").close();
        v.loggedIn = true;
        v.connState = null;
        $("logout").hidden = false;
        v.controller.start();
      } else if (response.status === 401 || response.status === 403) {
        $("login-error").textContent = v.authMode === "basic" ? "Wrong user name or password." : "Wrong token.";
      } else if (response.status === 429) {
        $("login-error").textContent = "Too many attempts; wait a moment.";
      } else {
        $("login-error").textContent = `Sign-in failed (HTTP ${response.status}).`;
      }
    } catch (error) {
      $("login-error").textContent = `Sign-in failed: ${error.message}`;
    } finally {
      $("login-submit").disabled = false;
    }
  }

  async signOut() {
    const v = this.v;
    await logout();
    v.controller.stop(); // the lines leave the screen and memory with the session
    v.loggedIn = false;
    $("logout").hidden = true;
    this.show(v.authMode || "bearer", "Signed out.");
  }
}
