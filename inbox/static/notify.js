// Optional alerts for new work: a short tone (Web Audio, no sound file to download)
// and desktop notifications. Both are off until the agent turns them on.

const PREFS_KEY = 'chatgate.alerts';

export function loadAlertPrefs() {
  try {
    return { sound: false, desktop: false, ...JSON.parse(localStorage.getItem(PREFS_KEY) ?? '{}') };
  } catch {
    return { sound: false, desktop: false };
  }
}

export function saveAlertPrefs(p) {
  localStorage.setItem(PREFS_KEY, JSON.stringify(p));
}

let audio = null;
function beep() {
  try {
    audio ??= new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.08, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.25);
  } catch {
    /* no audio device: the unread mark still shows */
  }
}

export async function askDesktopPermission() {
  if (!('Notification' in window)) return false;
  if (Notification.permission === 'granted') return true;
  return (await Notification.requestPermission()) === 'granted';
}

export function alertNewWork(prefs, title, body, ticketId) {
  if (prefs.sound) beep();
  if (prefs.desktop && 'Notification' in window && Notification.permission === 'granted' && document.visibilityState !== 'visible') {
    const n = new Notification(title, { body, tag: ticketId });
    n.onclick = () => {
      window.focus();
      location.hash = `#/t/${ticketId}`;
    };
  }
}
