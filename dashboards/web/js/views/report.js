// A resident reports a problem (POST /cases) with an optional photo. Large photos are scaled down in the
// browser (canvas → JPEG) so a phone picture fits the hub's 2 MB limit. Nothing is chosen for them: the
// kind of problem starts empty and comes back empty after sending; fire and gas show safety advice.
import "../locales/cases.js";
import { api } from "../api.js";
import { clear, h, label, notice, toast } from "../dom.js";
import { t } from "../i18n.js";
import { safetyAdvice } from "./case_resident.js";

export const CATEGORIES = ["fire", "gas", "flood", "safety", "security", "lighting", "infrastructure",
  "device_health", "noise", "sanitation", "other"];
const MAX_BYTES = 2 * 1024 * 1024;
const MAX_SIDE = 1600;

const base64Bytes = (b64) => Math.floor((b64.length * 3) / 4);

function readDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

/** The photo as {dataUrl, base64}: as it is when small enough, else scaled down to a JPEG. */
export async function preparePhoto(file) {
  if (!file) return null;
  if (["image/jpeg", "image/png"].includes(file.type) && file.size <= MAX_BYTES * 0.75) {
    const dataUrl = await readDataUrl(file);
    return { dataUrl, base64: dataUrl.slice(dataUrl.indexOf(",") + 1) };
  }
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  for (const quality of [0.85, 0.7, 0.5]) {
    const dataUrl = canvas.toDataURL("image/jpeg", quality);
    const base64 = dataUrl.slice(dataUrl.indexOf(",") + 1);
    if (base64Bytes(base64) <= MAX_BYTES) return { dataUrl, base64 };
  }
  throw new Error(t("report.photoTooBig"));
}

export function reportView(root, { user }) {
  const operator = ["admin", "operator"].includes(user.role);
  let photo = null;
  const result = h("div", { class: "result" });
  const preview = h("img", { class: "photo-preview", alt: "", hidden: true });
  const field = (name, text, input) => h("label", { class: "field" }, h("span", {}, text), input);
  const community = user.communities.length && !operator
    ? h("select", { name: "community", required: true }, user.communities.map((c) => h("option", { value: c }, c)))
    : h("input", { name: "community", required: true, maxlength: 100, autocomplete: "off" });
  const photoInput = h("input", { type: "file", name: "photo", accept: "image/jpeg,image/png,image/*", capture: "environment",
    onchange: async () => {
      photo = null;
      preview.hidden = true;
      const file = photoInput.files[0];
      if (!file) return;
      try {
        photo = await preparePhoto(file);
        preview.src = photo.dataUrl;
        preview.hidden = false;
      } catch (err) {
        toast(err.message, "error");
        photoInput.value = "";
      }
    } });
  // No kind is chosen for the reporter: the first option says "choose", and the form asks until they do.
  const category = h("select", { name: "category", required: true, onchange: () => showAdvice() },
    h("option", { value: "", selected: true, disabled: true }, t("report.chooseCategory")),
    CATEGORIES.map((c) => h("option", { value: c }, label("category", c))));
  const advice = h("div", { class: "advice-slot", "aria-live": "polite" });
  const showAdvice = () => clear(advice, safetyAdvice(category.value));
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, t("report.submit"));
  const form = h("form", { class: "report-form", id: "report-form", onsubmit: send },
    field("community", t("report.community"), community),
    field("category", t("report.category"), category),
    advice,
    operator ? field("severity", label("col", "severity"), h("select", { name: "severity" },
      h("option", { value: "" }, "–"), ["info", "minor", "major", "critical"].map((v) => h("option", { value: v }, label("severity", v))))) : null,
    field("title", t("report.shortTitle"), h("input", { name: "title", maxlength: 200 })),
    field("description", t("report.description"), h("textarea", { name: "description", required: true, maxlength: 4000, rows: 4 })),
    h("fieldset", { class: "where" }, h("legend", {}, t("report.where")),
      field("building", t("report.building"), h("input", { name: "building", maxlength: 100 })),
      field("grid", t("report.grid"), h("input", { name: "grid", maxlength: 100 })),
      field("device_id", t("report.device"), h("input", { name: "device_id", maxlength: 100, autocomplete: "off" }))),
    field("photo", t("report.photo"), photoInput),
    preview,
    submit);

  async function send(ev) {
    ev.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    const body = { community: data.community.trim(), category: data.category, description: data.description.trim() };
    for (const k of ["title", "building", "grid", "device_id", "severity"]) {
      if (data[k] && String(data[k]).trim()) body[k] = String(data[k]).trim();
    }
    if (!body.building && !body.grid && !body.device_id) {
      clear(result, notice(t("report.where"), "error"));
      form.elements.building.focus();
      return;
    }
    if (photo) body.photo = photo.base64;
    submit.disabled = true;
    try {
      const c = await api("/cases", { method: "POST", body });
      clear(result, h("p", { class: "notice notice-ok", role: "status" },
        t("report.sent", { id: c.id }), " ", h("a", { href: `#/case/${c.id}` }, `#${c.id}`)));
      form.reset();
      showAdvice();
      photo = null;
      preview.hidden = true;
    } catch (err) {
      clear(result, notice(t("action.failed", { msg: err.message }), "error"));
    } finally {
      submit.disabled = false;
    }
  }

  clear(root, h("section", { class: "view-report" }, h("h2", {}, t("report.title")), h("p", {}, t("report.intro")), result, form));
  return () => {};
}
