// The member center: reads `me` and switches consents through /graphql with the customer's
// token. The token arrives in the URL fragment (#token=...), which browsers never send to a
// server; it is moved to sessionStorage and the fragment is cleared at once.
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
  var FIELDS =
    "id tier points { balance history(first: 5) { items { kind points reason createdAt } } } " +
    "coupons(status: AVAILABLE, first: 5) { items { id title kind discountFen percentOff " +
    "minSpendFen validUntil } } " +
    "orders(first: 5) { items { id status totalFen paidAt items { name quantity } } } " +
    "consents { current { purpose channel granted } " +
    "history(first: 20) { items { purpose channel granted noticeVersion changedAt } } } " +
    "name phone birthday address { province city district street }";
  var ME = "query MemberCenter { me { " + FIELDS + " } }";
  var UPDATE =
    "mutation SwitchConsent($input: UpdateMyConsentsInput!) { updateMyConsents(input: $input) " +
    "{ consents { current { purpose channel granted } } } }";

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

  function graphql(query, variables) {
    return fetch("/graphql", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY),
      },
      body: JSON.stringify({ query: query, variables: variables || null }),
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
    graphql(UPDATE, {
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
    graphql(ME)
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
