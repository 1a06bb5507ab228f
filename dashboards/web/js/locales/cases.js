// The case page, the resident's view, the report form and everything the hub writes into a case's
// history, in English and Chinese.
import { register } from "../i18n.js";

register({
  en: {
    "event.withdrawn": "withdrawn",
    "event.commented": "comment",
    "kpi.duplicates": "Duplicates (merged or absorbed)",
  },
  zh: {
    "event.withdrawn": "已撤回",
    "event.commented": "留言",
    "kpi.duplicates": "重复工单（已合并）",
  },
});
