// The member center: reads `me` and switches consents through /graphql with the customer's
// token, sending trusted documents by id. The token arrives in the URL fragment (#token=...),
// which browsers never send to a server; it is moved to sessionStorage and the fragment is
// cleared at once.
"use strict";

(function () {
  var TOKEN_KEY = "cdp.customerToken";
  var NOTICE = document.querySelector('meta[name="cdp-notice-version"]');
  var TIERS = { STANDARD: "普通会员", VIP: "VIP 会员", SUPREME: "至尊会员" };
  var ENTRY_KINDS = { EARN: "获得", SPEND: "使用", EXPIRE: "过期", ADJUST: "调整" };
  var ORDER_STATUS = { PAID: "已支付", SHIPPED: "已发货", COMPLETED: "已完成", REFUNDED: "已退款" };
  var PURPOSES = [
    ["MARKETING", "优惠与新品推送", "优惠活动、新品上市、会员专享福利"],
    ["ACTIVITY_NOTIFICATIONS", "活动通知", "报名、预约提醒，积分到账与优惠券到期提醒"],
    ["PERSONALIZATION", "个性化推荐", "根据你的浏览与购买记录推荐内容和商品"],
    ["ANALYTICS", "匿名统计分析", "以去标识化的方式用于改进服务"],
  ];
  // The trusted documents the member centre sends, by id only (their text is in
  // cdp/h5/documents.graphql, the manifest cdp/documents/pages.json): a customer runs nothing
  // else in production. privacy.js names its own from this table too.
  var DOCUMENTS = {
    MemberCenter: "sha256:1887cb705097df43d8ebc0fcd50d24f414032e5c038698974788c1183ecc8589",
    SwitchConsent: "sha256:471af9da7a3e7c1f5d09a72f2c64698ddcb12178fa2dc444a06bb9dcaa9a9867",
    PrivacyCentre: "sha256:10e40a3834114714a09ef31750560b00bb8345d33221d681b756022e5bad570b",
    SaveProfile: "sha256:010c111c028d89fde2baa5e185d154fff37731aab6af5e81ce0842532b7121dd",
    MyData: "sha256:6a9d09b7db51ca793d4b886d0156d102852c5cd5d792fd8478b7924cef4c3fcc",
    Cancel: "sha256:f854e61ad941ceb581f1b0f078739b8afd330af0fc3250489434bba5438f7e6d",
    Withdraw: "sha256:b058a38b9591aa8c8dbb6d9c5a6dbb1bb0d75e5caa32bf83ccef1711c02cc61b",
    Reconsent: "sha256:5841d6ee3e1e2bf88ad0111bed82b5ab5138495c63ef12fdf15b8fb408c01e29",
  };

  function $(id) { return document.getElementById(id); }

  function takeToken() {
    var hash = new URLSearchParams(location.hash.slice(1));
    var token = hash.get("token");
    if (token) {
      sessionStorage.setItem(TOKEN_KEY, token);
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  // The notice in effect, as the registry says (privacy.js sets it); the page's own until then.
  function noticeVersion() {
    return member.noticeVersion || (NOTICE ? NOTICE.content : null);
  }

  function sourceChannel() {
    if (window.__wxjs_environment === "miniprogram") return "MINI_PROGRAM";
    return /MicroMessenger/i.test(navigator.userAgent) ? "OFFICIAL_ACCOUNT" : "WEB";
  }

  // One trusted document by its operation's name: {"documentId": "sha256:...", "variables"}.
  function graphql(operation, variables) {
    return fetch("/graphql", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY),
      },
      body: JSON.stringify({ documentId: DOCUMENTS[operation], variables: variables || null }),
    }).then(function (response) {
      return response.json().then(function (body) {
        if (response.status === 401) throw { signedOut: true };
        if (!response.ok || body.errors) throw { body: body };
        return body.data;
      });
    });
  }

  function yuan(fen) { return "¥" + (fen / 100).toFixed(2); }

  function day(iso) {
    if (!iso) return "";
    return new Date(iso).toLocaleDateString("zh-CN", { timeZone: "Asia/Shanghai" });
  }

  function row(list, main, sub, right, rightClass) {
    var li = document.createElement("li");
    var left = document.createElement("span");
    left.textContent = main;
    if (sub) {
      var small = document.createElement("span");
      small.className = "sub";
      small.textContent = sub;
      left.appendChild(small);
    }
    li.appendChild(left);
    if (right !== undefined) {
      var value = document.createElement("span");
      value.className = rightClass || "amount";
      value.textContent = right;
      li.appendChild(value);
    }
    list.appendChild(li);
    return li;
  }

  function fill(listId, emptyId, items, draw) {
    var list = $(listId);
    list.textContent = "";
    items.forEach(function (item) { draw(list, item); });
    $(emptyId).hidden = items.length > 0;
  }

  function toast(text) {
    var box = $("toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { box.hidden = true; }, 2000);
  }

  // A purpose is "on" when every channel allows it; switching sets every channel.
  function granted(current, purpose) {
    var rows = current.filter(function (c) { return c.purpose === purpose; });
    return rows.length > 0 && rows.every(function (c) { return c.granted; });
  }

  function drawConsents(current) {
    var list = $("consents");
    list.textContent = "";
    PURPOSES.forEach(function (p) {
      var li = row(list, p[1], p[2]);
      var input = document.createElement("input");
      input.type = "checkbox";
      input.className = "switch";
      input.setAttribute("role", "switch");
      input.setAttribute("aria-label", p[1]);
      input.dataset.purpose = p[0];
      input.checked = granted(current, p[0]);
      input.addEventListener("change", function () { switchConsent(input); });
      li.appendChild(input);
    });
  }

  function switchConsent(input) {
    var wanted = input.checked;
    input.disabled = true;
    var choice = { purpose: input.dataset.purpose, granted: wanted };
    graphql("SwitchConsent", {
      input: {
        consents: [choice],
        noticeVersion: noticeVersion(),
        sourceChannel: sourceChannel(),
      },
    })
      .then(function (data) {
        drawConsents(data.updateMyConsents.consents.current);
        if (member.onConsents) member.onConsents(data.updateMyConsents);
        document.body.dataset.consentSaved = input.dataset.purpose + ":" + wanted;
        toast(wanted ? "已开启" : "已关闭");
      })
      .catch(function (error) {
        input.checked = !wanted;
        input.disabled = false;
        if (error && error.signedOut) return signedOut("登录已过期，请重新授权。");
        toast("保存失败，请稍后重试");
      });
  }

  function render(me) {
    $("tier-label").textContent = TIERS[me.tier] || me.tier;
    $("points-balance").textContent = String(me.points.balance);
    fill("ledger", "ledger-empty", me.points.history.items, function (list, e) {
      var sign = e.points > 0 ? "+" : "";
      row(list, e.reason || ENTRY_KINDS[e.kind] || e.kind, day(e.createdAt),
        sign + e.points, e.points > 0 ? "plus" : "minus");
    });
    fill("coupons", "coupons-empty", me.coupons.items, function (list, c) {
      var terms = c.minSpendFen > 0 ? "满" + yuan(c.minSpendFen) + "可用" : "无门槛";
      var until = c.validUntil ? "，" + day(c.validUntil) + "到期" : "";
      var value = c.kind === "PERCENT" ? (100 - c.percentOff) / 10 + "折" : yuan(c.discountFen);
      row(list, c.title, terms + until, value);
    });
    fill("orders", "orders-empty", me.orders.items, function (list, o) {
      var names = o.items.map(function (i) { return i.name + " ×" + i.quantity; }).join("、");
      row(list, names || "订单", day(o.paidAt) + " · " + (ORDER_STATUS[o.status] || o.status),
        yuan(o.totalFen));
    });
    drawConsents(me.consents.current);
    if (member.onMe) member.onMe(me);
    $("loading").hidden = true;
    $("member").hidden = false;
    document.body.dataset.ready = "true";
  }

  function signedOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    $("loading").hidden = true;
    $("member").hidden = true;
    $("signed-out").hidden = false;
    if (message) $("signed-out-message").textContent = message;
    var appId = new URLSearchParams(location.search).get("appId");
    if (appId && sourceChannel() !== "MINI_PROGRAM") {
      var link = $("sign-in");
      link.href = "/auth/wechat/official-account/authorize?" + new URLSearchParams({ appId: appId });
      link.hidden = false;
    }
  }

  function start() {
    if (!takeToken()) return signedOut();
    graphql("MemberCenter")
      .then(function (data) { render(data.me); })
      .catch(function (error) {
        if (error && error.signedOut) return signedOut("登录已过期，请重新授权。");
        $("loading").textContent = "加载失败，请下拉刷新重试。";
      });
  }

  // What privacy.js (the privacy centre) uses of the page.
  var member = (window.cdpMember = {
    graphql: graphql,
    toast: toast,
    row: row,
    day: day,
    signedOut: signedOut,
    sourceChannel: sourceChannel,
    noticeVersion: null,
    PURPOSES: PURPOSES,
  });

  start();
})();
