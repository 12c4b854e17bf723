// The erasure desk's export of one person's data (导出个人数据): the complete, decrypted
// document the API returns for a stated purpose (audited), offered as a JSON file named for
// the person and the day, behind an object URL. Shared as window.cdpConsole.parts.requests.
"use strict";

(function requestExport() {
  const api = window.cdpConsole;
  const parts = api.parts.requests;
  const { $, when, say, required, badProfile } = parts;
  let downloadUrl = null;

  /** The export form's submit: checks both fields, exports, offers the file and focuses it. */
  async function exportProfile(event) {
    event.preventDefault();
    const ok = required([
      ["dsr-export-profile", "请填写会员编号。 A profile id is required."],
      ["dsr-export-purpose", "请填写导出目的。 A purpose is required."],
    ], "dsr-export-status");
    if (!ok) return;
    const profileId = $("dsr-export-profile").value.trim();
    const link = $("dsr-download");
    link.hidden = true;
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = null;
    link.removeAttribute("href");
    $("dsr-export-go").disabled = true;
    $("dsr-export").setAttribute("aria-busy", "true");
    say("dsr-export-status", "正在导出… Exporting…", "busy");
    try {
      const input = { profileId, purpose: $("dsr-export-purpose").value.trim() };
      const made = (await api.gql("DeskExportProfile", { input })).exportProfile;
      const text = JSON.stringify(made.document, null, 2);
      downloadUrl = URL.createObjectURL(new Blob([text], { type: "application/json" }));
      const day = new Date(made.generatedAt).toISOString().slice(0, 10);
      link.href = downloadUrl;
      link.download = `cdp-export-${profileId.replace(/[^\w.-]/g, "_")}-${day}.json`;
      link.hidden = false;
      say("dsr-export-status", `已生成（${when(made.generatedAt)}，${text.length} 字符），请下载 ${link.download}。 Ready to download.`, "ok");
      link.focus();
    } catch (error) {
      say("dsr-export-status", error.message, "problem");
      if (badProfile(error)) $("dsr-export-profile").setAttribute("aria-invalid", "true");
    } finally {
      $("dsr-export-go").disabled = false;
      $("dsr-export").removeAttribute("aria-busy");
    }
  }

  parts.exportProfile = exportProfile;
})();
