// The vgpu-vnc web viewer: connects to this server over WebSocket (wss when the page came
// over https), asks for credentials only when the server wants them, scales the picture to
// the window, offers full screen, and says in words what is happening. No clipboard.
import RFB from '__NOVNC__/core/rfb.js';

const $ = (id) => document.getElementById(id);
const status = $('status');
const screen = $('screen');
const login = $('login');
const loginMessage = $('login-message');
const userRow = $('user-row');
const userInput = $('user');
const passwordInput = $('password');
const reconnectButton = $('reconnect');
const fullscreenButton = $('fullscreen');

const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/websockify`;

let rfb = null;
let desktopName = '';
let failure = '';        // why the last attempt failed, for the status line
let askAgain = false;    // the server refused the credentials: ask again on disconnect
let wantsUser = false;

function setStatus(text, state) {
  status.textContent = text;
  status.dataset.state = state;
}

function showLogin(message) {
  loginMessage.textContent = message;
  userRow.hidden = !wantsUser;
  login.hidden = false;
  (wantsUser && !userInput.value ? userInput : passwordInput).focus();
}

function connect(credentials) {
  failure = '';
  askAgain = false;
  login.hidden = true;
  reconnectButton.hidden = true;
  setStatus('Connecting…', 'connecting');
  rfb = new RFB(screen, url, credentials ? { credentials } : {});
  rfb.scaleViewport = true;     // fit the window, keep the aspect ratio
  rfb.resizeSession = true;     // ask the guest for the window's size where the server allows it
  rfb.focusOnClick = true;
  rfb.addEventListener('connect', () => {
    setStatus(desktopName ? `Connected to ${desktopName}` : 'Connected', 'connected');
  });
  rfb.addEventListener('desktopname', (e) => {
    desktopName = e.detail.name;
    document.title = `${desktopName} — vgpu-vnc`;
    if (status.dataset.state === 'connected') setStatus(`Connected to ${desktopName}`, 'connected');
  });
  rfb.addEventListener('credentialsrequired', (e) => {
    wantsUser = e.detail.types.includes('username');
    setStatus('Waiting for credentials', 'authenticating');
    showLogin(wantsUser ? 'Log in to see this screen.' : 'Enter the password for this screen.');
  });
  rfb.addEventListener('securityfailure', (e) => {
    failure = e.detail.reason || 'the server refused the credentials';
    askAgain = !/too many|busy|only/i.test(failure);
  });
  rfb.addEventListener('disconnect', (e) => {
    rfb = null;
    if (askAgain) {
      setStatus(`Authentication failed: ${failure}`, 'error');
      passwordInput.value = '';
      showLogin(`Authentication failed (${failure}). Try again.`);
      return;
    }
    if (failure) setStatus(`Refused: ${failure}`, 'error');
    else if (e.detail.clean) setStatus('Disconnected', 'disconnected');
    else setStatus('Connection lost', 'disconnected');
    login.hidden = true;
    reconnectButton.hidden = false;
  });
}

login.addEventListener('submit', (e) => {
  e.preventDefault();
  const credentials = { password: passwordInput.value };
  if (wantsUser) credentials.username = userInput.value;
  login.hidden = true;
  setStatus('Authenticating…', 'authenticating');
  if (rfb) rfb.sendCredentials(credentials);
  else connect(credentials); // asked again after a failure: a new connection
});

reconnectButton.addEventListener('click', () => connect());

fullscreenButton.addEventListener('click', () => {
  if (document.fullscreenElement) void document.exitFullscreen();
  else void document.documentElement.requestFullscreen().catch((err) => setStatus(`Full screen refused: ${err.message}`, status.dataset.state));
});

// For tests and debugging in the console.
window.vgpuVnc = { get rfb() { return rfb; }, get state() { return status.dataset.state; } };

connect();
