// The privacy centre of the member center: one's profile and address, the consent history
// with the notice each choice was made under, the re-consent prompt, "my data" (view and
// download through a one-use link) and cancelling the account, with its withdrawal.
"use strict";

(function () {
  var m = window.cdpMember;
  if (!m) return;
  var PURPOSE_NAMES = {};
  m.PURPOSES.forEach(function (p) { PURPOSE_NAMES[p[0]] = p[1]; });
  // The trusted documents this page sends (cdp/h5/documents.graphql), by name: app.js holds
  // their ids.
  var CENTRE = "PrivacyCentre";
  var SAVE = "SaveProfile";
  var EXPORT = "MyData";
  var CANCEL = "Cancel";
  var WITHDRAW = "Withdraw";
  var RECONSENT = "Reconsent";
  var cancellation = null;
  var current = [];

  function $(id) { return document.getElementById(id); }

  function failed(error, text) {
    if (error && error.signedOut) return m.signedOut("登录已过期，请重新授权。");
    var errors = (error && error.body && error.body.errors) || [];
    var code = errors.length ? errors[0].extensions && errors[0].extensions.code : null;
    m.toast(code === "QUERY_TOO_COMPLEX" ? "今天的次数已用完，请明天再试" : text);
  }

  function fillProfile(me) {
    var a = me.address || {};
    $("profile-name").value = me.name || "";
    $("profile-phone").value = me.phone || "";
    $("profile-birthday").value = me.birthday || "";
    $("address-province").value = a.province || "";
    $("address-city").value = a.city || "";
    $("address-district").value = a.district || "";
    $("address-street").value = a.street || "";
  }

  function or(value) { return value.trim() === "" ? null : value.trim(); }

  function saveProfile(event) {
    event.preventDefault();
    var button = $("profile-save");
    button.disabled = true;
    var input = {
      name: or($("profile-name").value),
      phone: or($("profile-phone").value),
      birthday: or($("profile-birthday").value),
      address: {
        province: or($("address-province").value),
        city: or($("address-city").value),
        district: or($("address-district").value),
        street: or($("address-street").value),
      },
    };
    m.graphql(SAVE, { input: input })
      .then(function (data) {
        fillProfile(data.updateMyProfile);
        document.body.dataset.profileSaved = "true";
        m.toast("已保存");
      })
      .catch(function (error) { failed(error, "保存失败，请检查填写的内容"); })
      .then(function () { button.disabled = false; });
  }

  function drawHistory(items) {
    var list = $("consent-history");
    list.textContent = "";
    items.forEach(function (c) {
      var notice = c.noticeVersion ? "隐私政策 " + c.noticeVersion + " 版" : "未记录政策版本";
      m.row(list, (PURPOSE_NAMES[c.purpose] || c.purpose) + (c.granted ? " · 同意" : " · 拒绝"),
        m.day(c.changedAt) + " · " + notice);
    });
    $("consent-history-empty").hidden = items.length > 0;
  }

  function drawCancellation(c) {
    cancellation = c && c.status !== "WITHDRAWN" ? c : null;
    var banner = $("cancellation-banner");
    banner.hidden = !cancellation;
    $("cancel-account").hidden = !!cancellation;
    $("cancel-confirm").hidden = true;
    document.body.dataset.cancellation = cancellation ? cancellation.status : "NONE";
    if (!cancellation) return;
    var text = cancellation.held
      ? "你的注销申请因法律原因暂缓处理，你仍可撤回。"
      : "你的账号将于 " + m.day(cancellation.runsAt) + " 注销。在此之前可随时撤回。";
    $("cancellation-text").textContent = text;
    $("withdraw-cancellation").hidden = !cancellation.withdrawable;
  }

  function drawCentre(data) {
    var p = data.myPrivacy;
    if (p.notice) {
      m.noticeVersion = p.notice.version;
      $("notice-version").textContent = p.notice.title + "（" + p.notice.version + " 版）";
      $("reconsent-changes").textContent = p.notice.changes;
      $("reconsent-text").textContent = p.notice.text;
    }
    $("reconsent").hidden = !p.reconsentNeeded;
    $("cooling-off-days").textContent = String(p.coolingOffDays);
    current = data.me.consents.current;
    drawHistory(data.me.consents.history.items);
    drawCancellation(p.cancellation);
    document.body.dataset.reconsent = String(p.reconsentNeeded);
    document.body.dataset.privacyReady = "true";
  }

  function load() {
    return m.graphql(CENTRE).then(drawCentre).catch(function (e) { failed(e, "加载失败"); });
  }

  function exportLink() {
    return m.graphql(EXPORT).then(function (data) { return data.requestMyDataExport.url; });
  }

  function viewData() {
    exportLink()
      .then(function (url) {
        return fetch(url, { credentials: "omit" }).then(function (r) {
          if (!r.ok) throw { body: null };
          return r.json();
        });
      })
      .then(function (doc) {
        var list = $("my-data-summary");
        list.textContent = "";
        m.row(list, "积分记录", null, String(doc.points.ledger.length) + " 条");
        m.row(list, "订单", null, String(doc.orders.length) + " 笔");
        m.row(list, "优惠券", null, String(doc.coupons.length) + " 张");
        m.row(list, "授权记录", null, String(doc.consents.history.length) + " 条");
        m.row(list, "行为记录", null, String(doc.events.length) + " 条");
        list.hidden = false;
        $("my-data").textContent = JSON.stringify(doc, null, 2);
        $("my-data").hidden = false;
        document.body.dataset.dataViewed = "true";
      })
      .catch(function (e) { failed(e, "获取失败，请稍后重试"); });
  }

  function downloadData() {
    exportLink()
      .then(function (url) {
        var a = document.createElement("a");
        a.href = url;
        a.download = "";
        document.body.appendChild(a);
        a.click();
        a.remove();
      })
      .catch(function (e) { failed(e, "获取失败，请稍后重试"); });
  }

  function confirmCancel() {
    $("confirm-cancel").disabled = true;
    m.graphql(CANCEL)
      .then(function (data) {
        drawCancellation(data.cancelMyAccount);
        m.toast("已提交注销申请");
      })
      .catch(function (e) { failed(e, "提交失败，请稍后重试"); });
  }

  function withdraw() {
    if (!cancellation) return;
    m.graphql(WITHDRAW, { input: { requestId: cancellation.id } })
      .then(function (data) {
        drawCancellation(data.withdrawMyCancellation);
        m.toast("已撤回注销");
      })
      .catch(function (e) { failed(e, "撤回失败，请稍后重试"); });
  }

  // Re-consent: the person's present choices, made again under the notice now in effect.
  function reconsent() {
    // One choice per purpose when every channel agrees (as the switches set them), else one
    // per channel: the history keeps what the person chose, not twenty copies of it.
    var choices = [];
    m.PURPOSES.forEach(function (p) {
      var rows = current.filter(function (c) { return c.purpose === p[0]; });
      var same = rows.every(function (c) { return c.granted === rows[0].granted; });
      if (rows.length && same) return choices.push({ purpose: p[0], granted: rows[0].granted });
      rows.forEach(function (c) {
        choices.push({ purpose: c.purpose, channel: c.channel, granted: c.granted });
      });
    });
    m.graphql(RECONSENT, {
      input: { consents: choices, noticeVersion: m.noticeVersion, sourceChannel: m.sourceChannel() },
    })
      .then(load)
      .then(function () { m.toast("已确认"); })
      .catch(function (e) { failed(e, "提交失败，请稍后重试"); });
  }

  m.onMe = function (me) {
    fillProfile(me);
    load();
  };
  m.onConsents = function () { load(); };
  $("profile-form").addEventListener("submit", saveProfile);
  $("view-data").addEventListener("click", viewData);
  $("download-data").addEventListener("click", downloadData);
  $("cancel-account").addEventListener("click", function () {
    $("cancel-confirm").hidden = false;
  });
  $("cancel-understood").addEventListener("change", function () {
    $("confirm-cancel").disabled = !$("cancel-understood").checked;
  });
  $("confirm-cancel").addEventListener("click", confirmCancel);
  $("withdraw-cancellation").addEventListener("click", withdraw);
  $("reconsent-accept").addEventListener("click", reconsent);
})();
