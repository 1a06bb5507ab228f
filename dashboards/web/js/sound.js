// A short two-tone beep for new critical cases, made with the Web Audio API (no audio file). Browsers
// start audio only after a user gesture, so the context is created or resumed on the first click.

let ctx = null;

export const soundOn = () => localStorage.getItem("sound") !== "off";
export function setSound(on) {
  localStorage.setItem("sound", on ? "on" : "off");
  if (on) unlock();
}

export function unlock() {
  try {
    ctx = ctx || new AudioContext();
    if (ctx.state === "suspended") ctx.resume();
  } catch { /* no audio on this device */ }
}

export function beep() {
  if (!soundOn()) return false;
  window.dispatchEvent(new CustomEvent("hub:beep"));
  unlock();
  if (!ctx) return false;
  const start = ctx.currentTime + 0.02;
  for (const [i, freq] of [880, 1175].entries()) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "square";
    osc.frequency.value = freq;
    const t0 = start + i * 0.2;
    gain.gain.setValueAtTime(0.0001, t0);
    gain.gain.exponentialRampToValueAtTime(0.15, t0 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.17);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t0);
    osc.stop(t0 + 0.18);
  }
  return true;
}

document.addEventListener("pointerdown", unlock, { once: true });
document.addEventListener("keydown", unlock, { once: true });
