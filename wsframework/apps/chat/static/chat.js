/* wsframework chat: the page's client.
 *
 * One WebSocket to ws(s)://<host>/ws with the "chat" subprotocol, JSON text
 * messages (see wsframework/chat/service.py for the protocol).  After an
 * unexpected close it reconnects with exponential backoff (0.5 s doubling
 * to 10 s at most, minus up to 25 % jitter) and joins the same room with
 * the same nickname again, with "since": the id of the last message it
 * shows, so that the welcome brings exactly what it missed.  Every message
 * it sends carries a client_id and stays in the outbox until the server
 * acknowledges it; the outbox is sent again after a reconnection (the
 * server stores a resend once).  Messages are shown once, by id.  User
 * text only ever reaches the page through textContent.
 */
(function () {
  "use strict";

  var NICK_KEY = "wsframework.chat.nick";
  var BACKOFF_MIN = 500;
  var BACKOFF_MAX = 10000;
  var MAX_ITEMS = 1000;          // message list entries kept on the page

  function $(id) { return document.getElementById(id); }

  var el = {
    state: $("state"),
    joinView: $("join-view"),
    joinForm: $("join-form"),
    nick: $("nick"),
    room: $("room"),
    join: $("join"),
    joinError: $("join-error"),
    joinCancel: $("join-cancel"),
    chatView: $("chat-view"),
    roomName: $("room-name"),
    me: $("me"),
    members: $("members"),
    memberCount: $("member-count"),
    messages: $("messages"),
    sendForm: $("send-form"),
    text: $("text"),
    send: $("send"),
    switchRoom: $("switch"),
    leave: $("leave")
  };

  var ws = null;              // the current socket (handlers of older ones are ignored)
  var state = "closed";       // connecting | open | reconnecting | closed
  var wanted = null;          // {room, nick} to join on every open
  var current = null;         // {room, nick} of the last welcome
  var inRoom = false;         // a welcome arrived on the current socket
  var pendingJoin = false;    // a join was sent, no welcome or error yet
  var userClosed = true;      // the page itself closed (no reconnect)
  var attempts = 0;           // failed attempts since the last welcome
  var reconnectTimer = null;
  var lostNotice = false;     // "connection lost" shown for this outage
  var members = [];
  var seen = new Set();       // messages already on the page (room|id)
  var lastId = null;          // {room, id}: the newest message id shown
  var outbox = [];            // [{room, client_id, text, li}] sent, not yet acknowledged
  var counter = 0;
  var resume = null;          // the last welcome's token: a rejoin keeps the nickname

  // ------------------------------------------------------------ storage
  function loadNick() {
    try { return localStorage.getItem(NICK_KEY) || ""; } catch (e) { return ""; }
  }
  function saveNick(nick) {
    try { localStorage.setItem(NICK_KEY, nick); } catch (e) { /* private mode */ }
  }

  // ------------------------------------------------------------ connection
  function wsUrl() {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  }

  function setState(next) {
    state = next;
    el.state.textContent = next;
    el.state.setAttribute("data-state", next);
    updateControls();
  }

  function connect() {
    reconnectTimer = null;
    setState(attempts > 0 ? "reconnecting" : "connecting");
    var sock;
    try {
      sock = new WebSocket(wsUrl(), "chat");
    } catch (e) {
      scheduleReconnect();
      return;
    }
    ws = sock;
    inRoom = false;
    pendingJoin = false;
    sock.onopen = function () {
      if (sock !== ws) return;
      setState("open");
      if (wanted) sendJoin();
    };
    sock.onmessage = function (event) {
      if (sock !== ws) return;
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data && typeof data === "object") handle(data);
    };
    sock.onerror = function () { /* a close event follows */ };
    sock.onclose = function () {
      if (sock !== ws) return;
      ws = null;
      var wasInRoom = inRoom;
      inRoom = false;
      pendingJoin = false;
      if (userClosed) {
        setState("closed");
        return;
      }
      if (wasInRoom && !lostNotice) {
        lostNotice = true;
        addNotice("Connection lost, reconnecting…");
      }
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    // 0.5, 1, 2, 4, 8, 10, 10... s, each shortened by up to 25 % at random
    // so that a restarted server is not hit by every page at once.
    var base = Math.min(BACKOFF_MAX, BACKOFF_MIN * Math.pow(2, Math.min(attempts, 10)));
    var delay = base * (0.75 + 0.25 * Math.random());
    attempts += 1;
    setState("reconnecting");
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (reconnectTimer !== null && !userClosed) {
      clearTimeout(reconnectTimer);
      connect();
    }
  }

  function disconnect() {
    userClosed = true;
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    var sock = ws;
    ws = null;
    inRoom = false;
    pendingJoin = false;
    if (sock) sock.close(1000, "bye");
    setState("closed");
  }

  function send(obj) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(obj));
    return true;
  }

  function newClientId() {
    counter += 1;
    var random = Math.random().toString(36).slice(2, 10);
    return Date.now().toString(36) + "-" + random + "-" + counter;
  }

  function sendJoin() {
    var join = { type: "join", room: wanted.room, nick: wanted.nick };
    if (lastId && lastId.room === wanted.room) join.since = lastId.id;
    if (resume) join.resume = resume;
    if (send(join)) {
      pendingJoin = true;
      updateControls();
    }
  }

  // ------------------------------------------------------------ protocol
  function handle(msg) {
    var forOtherRoom = current && typeof msg.room === "string" && msg.room !== current.room;
    switch (msg.type) {
      case "welcome": onWelcome(msg); break;
      case "message":
        if (!forOtherRoom) addMessage(msg);
        break;
      case "joined":
        if (forOtherRoom) break;
        addMember(msg.nick);
        addNotice(msg.nick + " joined", msg.time);
        break;
      case "left":
        if (forOtherRoom) break;
        removeMember(msg.nick);
        addNotice(msg.nick + " left", msg.time);
        break;
      case "renamed":
        if (!forOtherRoom) onRenamed(msg);
        break;
      case "ack": onAck(msg); break;
      case "error": onError(String(msg.error || "error")); break;
      default: break;
    }
  }

  function onWelcome(msg) {
    var sameRoom = current !== null && current.room === msg.room;
    pendingJoin = false;
    inRoom = true;
    attempts = 0;
    current = { room: String(msg.room), nick: String(msg.nick) };
    if (typeof msg.resume === "string") resume = msg.resume;
    wanted = { room: current.room, nick: current.nick };
    saveNick(current.nick);
    if (!sameRoom) {
      el.messages.replaceChildren();
      seen.clear();
      lastId = null;
      outbox = outbox.filter(function (item) { return item.room === current.room; });
      addNotice("You joined #" + current.room + " as " + current.nick);
    } else if (lostNotice) {
      addNotice("Reconnected");
    }
    // "true": the history is exactly what was missed since the last id shown.
    el.messages.setAttribute("data-recovered", String(msg.recovered));
    if (msg.recovered === false) {
      addNotice("Some messages of the outage could not be recovered", null, "error");
    }
    lostNotice = false;
    members = Array.isArray(msg.members) ? msg.members.map(String) : [current.nick];
    renderMembers();
    (Array.isArray(msg.history) ? msg.history : []).forEach(addMessage);
    el.roomName.textContent = current.room;
    el.me.textContent = current.nick;
    document.title = "#" + current.room + " · wsframework chat";
    if (history.replaceState) {
      try { history.replaceState(null, "", "#" + encodeURIComponent(current.room)); } catch (e) { /* file: */ }
    }
    showChat();
    updateControls();
    // What was sent but never acknowledged goes again (stored once).
    outbox.forEach(function (item) {
      if (item.room === current.room) {
        send({ type: "message", text: item.text, client_id: item.client_id });
      }
    });
  }

  function settle(clientId) {
    outbox = outbox.filter(function (item) {
      if (item.client_id !== clientId) return true;
      if (item.li && item.li.parentNode) item.li.parentNode.removeChild(item.li);
      return false;
    });
  }

  function onAck(msg) {
    if (typeof msg.client_id === "string") settle(msg.client_id);
  }

  function onRenamed(msg) {
    var old = String(msg.old), nick = String(msg.nick);
    renameMember(old, nick);
    if (current && old === current.nick) {
      current.nick = nick;
      if (wanted) wanted.nick = nick;
      saveNick(nick);
      el.me.textContent = nick;
      renderMembers();
      addNotice("You are now known as " + nick, msg.time);
    } else {
      addNotice(old + " is now known as " + nick, msg.time);
    }
  }

  function onError(text) {
    if (pendingJoin) {
      // The join was refused (e.g. nickname taken): let the user pick again.
      pendingJoin = false;
      if (inRoom && current) {
        wanted = { room: current.room, nick: current.nick };
      }
      showJoin(text);
      el.nick.focus();
      el.nick.select();
      updateControls();
      return;
    }
    addNotice(text, null, "error");
  }

  // ------------------------------------------------------------ rendering
  function formatTime(date) {
    var sameDay = date.toDateString() === new Date().toDateString();
    var opts = sameDay ? { hour: "2-digit", minute: "2-digit" }
                       : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
    return date.toLocaleString([], opts);
  }

  function timeElement(seconds) {
    var date = typeof seconds === "number" && isFinite(seconds) ? new Date(seconds * 1000) : new Date();
    var node = document.createElement("time");
    node.className = "time";
    node.dateTime = date.toISOString();
    node.title = date.toLocaleString();
    node.textContent = formatTime(date);
    return node;
  }

  function append(li, forceScroll) {
    var list = el.messages;
    var atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    list.appendChild(li);
    while (list.children.length > MAX_ITEMS) list.removeChild(list.firstElementChild);
    if (atBottom || forceScroll) list.scrollTop = list.scrollHeight;
  }

  function addMessage(msg) {
    if (!msg || typeof msg !== "object") return;
    if (typeof msg.client_id === "string") settle(msg.client_id);
    if (typeof msg.id === "number" && current) {
      var key = current.room + "|" + msg.id;
      if (seen.has(key)) return;
      seen.add(key);
      if (seen.size > 4 * MAX_ITEMS) seen = new Set(Array.from(seen).slice(-2 * MAX_ITEMS));
      if (!lastId || lastId.room !== current.room || msg.id > lastId.id) {
        lastId = { room: current.room, id: msg.id };
      }
    }
    var own = current !== null && msg.nick === current.nick;
    var li = document.createElement("li");
    li.className = own ? "message own" : "message";
    var nick = document.createElement("span");
    nick.className = "nick";
    nick.textContent = String(msg.nick);
    var text = document.createElement("span");
    text.className = "text";
    text.textContent = String(msg.text);
    li.append(nick, timeElement(msg.time), text);
    append(li, own);
  }

  function addPending(text) {
    // Shown greyed until the server has it (then the message itself shows).
    var li = document.createElement("li");
    li.className = "pending";
    var nick = document.createElement("span");
    nick.className = "nick";
    nick.textContent = current ? current.nick : "";
    var body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    li.append(nick, body);
    append(li, true);
    return li;
  }

  function addNotice(text, seconds, extraClass) {
    var li = document.createElement("li");
    li.className = extraClass ? "notice " + extraClass : "notice";
    var span = document.createElement("span");
    span.className = "notice-text";
    span.textContent = text;
    li.append(span, timeElement(seconds));
    append(li, false);
  }

  function compareNicks(a, b) {
    var x = a.toLowerCase(), y = b.toLowerCase();
    return x < y ? -1 : x > y ? 1 : (a < b ? -1 : a > b ? 1 : 0);
  }

  function renderMembers() {
    members.sort(compareNicks);
    var items = members.map(function (nick) {
      var li = document.createElement("li");
      li.textContent = nick;
      if (current && nick === current.nick) li.className = "self";
      return li;
    });
    el.members.replaceChildren.apply(el.members, items);
    el.memberCount.textContent = String(members.length);
  }

  function addMember(nick) {
    nick = String(nick);
    if (members.indexOf(nick) < 0) members.push(nick);
    renderMembers();
  }

  function removeMember(nick) {
    members = members.filter(function (m) { return m !== String(nick); });
    renderMembers();
  }

  function renameMember(old, nick) {
    members = members.filter(function (m) { return m !== old && m !== nick; });
    members.push(nick);
    renderMembers();
  }

  // ------------------------------------------------------------ views
  function showJoin(error) {
    el.chatView.hidden = true;
    el.joinView.hidden = false;
    if (error) {
      el.joinError.textContent = error;
      el.joinError.hidden = false;
    } else {
      el.joinError.textContent = "";
      el.joinError.hidden = true;
    }
    el.joinCancel.hidden = !(inRoom && current);
  }

  function showChat() {
    el.joinView.hidden = true;
    el.joinError.hidden = true;
    el.chatView.hidden = false;
    el.text.focus();
  }

  function updateControls() {
    el.send.disabled = !(state === "open" && inRoom);
    el.join.disabled = pendingJoin;
  }

  // ------------------------------------------------------------ user actions
  function join(room, nick) {
    wanted = { room: room, nick: nick };
    saveNick(nick);
    userClosed = false;
    if (ws && ws.readyState === WebSocket.OPEN) {
      sendJoin();
    } else if (!ws) {
      attempts = 0;
      clearTimeout(reconnectTimer);
      connect();
    } // else: still connecting; onopen sends the join
  }

  el.joinForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var nick = el.nick.value.trim();
    var room = el.room.value.trim() || "lobby";
    if (!nick) {
      showJoin("Pick a nickname.");
      el.nick.focus();
      return;
    }
    el.joinError.hidden = true;
    join(room, nick);
  });

  el.joinCancel.addEventListener("click", function () {
    if (inRoom && current) showChat();
  });

  el.switchRoom.addEventListener("click", function () {
    if (current) {
      el.nick.value = current.nick;
      el.room.value = current.room;
    }
    showJoin();
    el.room.focus();
    el.room.select();
  });

  el.leave.addEventListener("click", function () {
    disconnect();
    current = null;
    wanted = null;
    members = [];
    renderMembers();
    el.messages.replaceChildren();
    seen.clear();
    lastId = null;
    outbox = [];
    document.title = "wsframework chat";
    showJoin();
    el.nick.focus();
  });

  function runCommand(line) {
    var match = /^\/(\S+)\s*(.*)$/.exec(line);
    var name = match ? match[1].toLowerCase() : "";
    var arg = match ? match[2].trim() : "";
    if (name === "nick" && arg) {
      if (!send({ type: "nick", nick: arg })) return false;
    } else if (name === "join" && arg && current) {
      wanted = { room: arg, nick: current.nick };
      sendJoin();
    } else if (name === "help") {
      addNotice("Commands: /nick NAME (rename), /join ROOM (switch room), //text (send text starting with /)");
    } else {
      addNotice("Unknown command " + line + " (try /help)", null, "error");
    }
    return true;
  }

  el.sendForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = el.text.value;
    if (!text.trim()) return;
    if (text.charAt(0) === "/" && text.charAt(1) !== "/") {
      if (runCommand(text)) el.text.value = "";
      return;
    }
    if (text.charAt(0) === "/") text = text.slice(1);
    if (!inRoom) return;      // keep the text until we are back
    var item = { room: current.room, client_id: newClientId(), text: text, li: null };
    if (send({ type: "message", text: text, client_id: item.client_id })) {
      el.text.value = "";
      item.li = addPending(text);
      outbox.push(item);
    }
  });

  window.addEventListener("online", reconnectNow);

  // ------------------------------------------------------------ start
  el.nick.value = loadNick();
  var fromHash = "";
  try { fromHash = decodeURIComponent(location.hash.slice(1)); } catch (e) { /* malformed */ }
  if (/^[\w.-]{1,32}$/.test(fromHash)) el.room.value = fromHash;
  setState("closed");
  showJoin();
  (el.nick.value ? el.join : el.nick).focus();
})();
