// An independent ActivityPub peer built with Fedify, for fediserver's interop tests.
//
//   node tests/peers/fedify/peer.mjs --port PORT [--first-knock rfc9421|draft-cavage-http-signatures-12]
//                                    [--rsa-only] [--no-require-http-signature]
//                                    [--accept-scheme rfc9421|draft-cavage-http-signatures-12]
//                                    [--log-level debug|info|warning|error|fatal]  (Fedify's logs, stderr)
//                                    [--watch-stdin]  (exit when stdin closes: no orphan if the parent dies)
//
// Listens on 127.0.0.1:PORT (origin http://127.0.0.1:PORT) and prints `READY http://127.0.0.1:PORT`
// once listening.  Federation routes (actor, inboxes, collections, notes, WebFinger, NodeInfo) are
// served by Fedify; a JSON control API lives under /control/ (see README.md).
//
// Test-only settings: allowPrivateAddress (loopback peers), in-memory KV store, no message queue
// (activities are delivered inline, so a control call returns after the remote inbox answered).
// Signatures on incoming activities ARE verified by Fedify (skipSignatureVerification is not used).
import { AsyncLocalStorage } from "node:async_hooks";
import http from "node:http";
import { randomUUID } from "node:crypto";
import process from "node:process";

import { Temporal } from "@js-temporal/polyfill"; // Node 20 has no global Temporal
import { configure, defaultTextFormatter } from "@logtape/logtape";
import {
  createFederation,
  generateCryptoKeyPair,
  MemoryKvStore,
  verifyRequestDetailed,
} from "@fedify/fedify";
import {
  Accept,
  Activity,
  Announce,
  Create,
  Delete,
  Document,
  Endpoints,
  Follow,
  Image,
  isActor,
  Like,
  Mention,
  Note,
  Person,
  PUBLIC_COLLECTION,
  Reject,
  Tombstone,
  Undo,
  Update,
} from "@fedify/vocab";

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------
const SPECS = ["rfc9421", "draft-cavage-http-signatures-12"];

function parseArgs(argv) {
  const opts = {
    port: 0,
    firstKnock: "rfc9421",
    rsaOnly: false,
    requireHttpSignature: true,
    acceptScheme: null,
    logLevel: "warning",
    watchStdin: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--port") opts.port = Number.parseInt(argv[++i], 10);
    else if (a === "--first-knock") opts.firstKnock = argv[++i];
    else if (a === "--rsa-only") opts.rsaOnly = true;
    else if (a === "--no-require-http-signature") opts.requireHttpSignature = false;
    else if (a === "--accept-scheme") opts.acceptScheme = argv[++i];
    else if (a === "--log-level") opts.logLevel = argv[++i];
    else if (a === "--watch-stdin") opts.watchStdin = true;
    else throw new Error(`unknown argument: ${a}`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new Error("--port must be an integer in 0..65535");
  }
  if (!SPECS.includes(opts.firstKnock)) {
    throw new Error(`--first-knock must be one of ${SPECS.join(", ")}`);
  }
  if (opts.acceptScheme != null && !SPECS.includes(opts.acceptScheme)) {
    throw new Error(`--accept-scheme must be one of ${SPECS.join(", ")}`);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// Fedify logs through LogTape; send its records (failed verifications, delivery errors) to stderr.
await configure({
  contextLocalStorage: new AsyncLocalStorage(),
  sinks: { stderr: (record) => process.stderr.write(defaultTextFormatter(record)) },
  loggers: [
    { category: "fedify", lowestLevel: opts.logLevel, sinks: ["stderr"] },
    { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
  ],
});
const HOST = "127.0.0.1";
const IDENTIFIER = "bob";

// ---------------------------------------------------------------------------------------------
// State (all in memory)
// ---------------------------------------------------------------------------------------------
const state = {
  origin: "", // set once listening
  keyPairs: [], // CryptoKeyPair[]; [0] is RSASSA-PKCS1-v1_5, [1] (optional) Ed25519
  inboxLog: [], // verified activities received
  outgoing: [], // outgoing HTTP requests made by Fedify (signing scheme, status)
  notes: new Map(), // note id (uuid) -> Note
  noteRecipients: new Map(), // note id (uuid) -> { actors: [actor URL], followers: bool }
  deleted: new Set(), // paths of deleted notes (answered 410 Gone)
  activities: new Map(), // activity uuid -> Activity (sent by bob)
  outbox: [], // Activity[] sent by bob (Create, Announce, ...)
  followers: new Map(), // follower actor id -> { inbox, sharedInbox } (hrefs)
  following: new Map(), // followed actor id -> { followId, accepted }
  remoteOrigins: new Set(),
};

// ---------------------------------------------------------------------------------------------
// Record outgoing requests: which HTTP signature scheme Fedify used, and the answer.
// Fedify's double-knock and document loaders use the global fetch at call time.
// ---------------------------------------------------------------------------------------------
const originalFetch = globalThis.fetch;
globalThis.fetch = async function recordingFetch(input, init) {
  const req = new Request(input, init);
  let scheme = "none";
  if (req.headers.has("signature-input")) scheme = "rfc9421";
  else if (req.headers.has("signature")) scheme = "draft-cavage-http-signatures-12";
  const entry = {
    method: req.method,
    url: req.url,
    scheme,
    key_id: keyIdOf(req.headers),
    status: null,
    error: null,
  };
  state.outgoing.push(entry);
  try {
    state.remoteOrigins.add(new URL(req.url).origin);
  } catch {
    // ignore
  }
  try {
    const res = await originalFetch(req);
    entry.status = res.status;
    return res;
  } catch (e) {
    entry.error = String(e);
    throw e;
  }
};

function keyIdOf(headers) {
  const sig = headers.get("signature-input") ?? headers.get("signature");
  if (sig == null) return null;
  const m = /keyid="([^"]*)"/i.exec(sig);
  return m == null ? null : m[1];
}

// ---------------------------------------------------------------------------------------------
// How Fedify authenticated each incoming activity.  Fedify's inbox handler tries, in order,
// Linked Data Signatures (RsaSignature2017), Object Integrity Proofs (FEP-8b32), then HTTP
// Signatures, and reports the outcome on its OpenTelemetry span as the event
// "activitypub.activity.received".  A tiny recording TracerProvider captures that event.
// ---------------------------------------------------------------------------------------------
const verifications = new Map(); // activity id -> { ld_signature, http_signature, key_id }

class RecordingSpan {
  constructor(name) {
    this.name = name;
  }
  spanContext() {
    return { traceId: "0".repeat(31) + "1", spanId: "0".repeat(15) + "1", traceFlags: 0 };
  }
  setAttribute() {
    return this;
  }
  setAttributes() {
    return this;
  }
  addEvent(name, attributes) {
    if (name === "activitypub.activity.received" && attributes != null) {
      let id = null;
      try {
        id = JSON.parse(attributes["activitypub.activity.json"]).id ?? null;
      } catch {
        id = null;
      }
      if (id != null) {
        verifications.set(id, {
          verified: attributes["activitypub.activity.verified"] === true,
          ld_signature: attributes["ld_signatures.verified"] === true,
          http_signature: attributes["http_signatures.verified"] === true,
          http_signature_key_id: attributes["http_signatures.key_id"] || null,
        });
      }
    }
    return this;
  }
  addLink() {
    return this;
  }
  addLinks() {
    return this;
  }
  setStatus() {
    return this;
  }
  updateName() {
    return this;
  }
  end() {}
  isRecording() {
    return true;
  }
  recordException() {}
}

const recordingTracer = {
  startSpan(name) {
    return new RecordingSpan(name);
  },
  startActiveSpan(name, ...rest) {
    const fn = rest[rest.length - 1];
    return fn(new RecordingSpan(name));
  },
};
const tracerProvider = { getTracer: () => recordingTracer };

function verificationMethodOf(v) {
  if (v == null) return null;
  if (v.ld_signature) return "ld-signature";
  if (v.http_signature) return "http-signature";
  if (v.verified) return "object-integrity-proof";
  return null;
}

// ---------------------------------------------------------------------------------------------
// Federation
// ---------------------------------------------------------------------------------------------
const kv = new MemoryKvStore();
const SPEC_PREFIX = ["_fedify", "httpMessageSignaturesSpec"];

const federation = createFederation({
  kv,
  // No queue: sendActivity() delivers inline and throws on failure; inbox listeners run inside the
  // inbox request.  Deterministic for tests.
  allowPrivateAddress: true, // loopback peers; test only
  firstKnock: opts.firstKnock,
  tracerProvider,
});

federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (identifier !== IDENTIFIER) return null;
    const keys = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      name: "Bob (Fedify peer)",
      summary: "An independent ActivityPub peer built with Fedify for fediserver interop tests.",
      url: ctx.getActorUri(identifier),
      inbox: ctx.getInboxUri(identifier),
      outbox: ctx.getOutboxUri(identifier),
      followers: ctx.getFollowersUri(identifier),
      following: ctx.getFollowingUri(identifier),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      manuallyApprovesFollowers: false,
      discoverable: true,
      publicKey: keys[0].cryptographicKey,
      assertionMethods: keys.map((k) => k.multikey),
    });
  })
  .setKeyPairsDispatcher(async (_ctx, identifier) => {
    if (identifier !== IDENTIFIER) return [];
    return state.keyPairs;
  });

federation.setFollowersDispatcher("/users/{identifier}/followers", async (ctx, identifier) => {
  if (identifier !== IDENTIFIER) return null;
  const items = [...state.followers.entries()].map(([id, { inbox, sharedInbox }]) => ({
    id: new URL(id),
    inboxId: new URL(inbox),
    endpoints: sharedInbox == null ? null : { sharedInbox: new URL(sharedInbox) },
  }));
  return { items };
});

federation.setFollowingDispatcher("/users/{identifier}/following", async (_ctx, identifier) => {
  if (identifier !== IDENTIFIER) return null;
  const items = [...state.following.entries()].filter(([, v]) => v.accepted).map(([id]) => new URL(id));
  return { items };
});

federation.setOutboxDispatcher("/users/{identifier}/outbox", async (_ctx, identifier) => {
  if (identifier !== IDENTIFIER) return null;
  return { items: [...state.outbox].reverse() };
});

federation.setObjectDispatcher(Note, "/users/{identifier}/notes/{id}", async (_ctx, values) => {
  if (values.identifier !== IDENTIFIER) return null;
  return state.notes.get(values.id) ?? null;
});

// Activities bob sent are dereferenceable too.
const ACTIVITY_CLASSES = { Follow, Undo, Create, Like, Announce, Accept, Reject, Update, Delete };
for (const [name, cls] of Object.entries(ACTIVITY_CLASSES)) {
  federation.setObjectDispatcher(
    cls,
    `/users/{identifier}/activities/${name.toLowerCase()}/{id}`,
    async (_ctx, values) => {
      if (values.identifier !== IDENTIFIER) return null;
      const a = state.activities.get(values.id);
      return a instanceof cls ? a : null;
    },
  );
}

function newActivityId(ctx, cls) {
  const id = randomUUID();
  return { uuid: id, uri: ctx.getObjectUri(cls, { identifier: IDENTIFIER, id }) };
}

function rememberActivity(uuid, activity) {
  state.activities.set(uuid, activity);
  return activity;
}

// ---------------------------------------------------------------------------------------------
// Inbox: only activities whose signature Fedify verified reach these listeners.
// ---------------------------------------------------------------------------------------------
function hrefOf(x) {
  return x == null ? null : x.href ?? String(x);
}

function asArray(v) {
  if (v == null) return [];
  return Array.isArray(v) ? v : [v];
}

function blurhashFromRaw(raw, objectId) {
  // @fedify/vocab has no `blurhash` property (toot: extension); read it from the raw JSON body.
  const out = new Map();
  if (raw == null || typeof raw !== "object") return out;
  const obj = raw.object;
  if (obj == null || typeof obj !== "object") return out;
  if (objectId != null && obj.id != null && obj.id !== objectId) return out;
  for (const att of asArray(obj.attachment)) {
    if (att == null || typeof att !== "object") continue;
    const url = typeof att.url === "string" ? att.url : att.url?.href ?? null;
    if (url != null && typeof att.blurhash === "string") out.set(url, att.blurhash);
  }
  return out;
}

async function describeObject(ctx, activity, entry) {
  // Only describe embedded objects: a bare URI is not fetched (no extra traffic to the sender).
  const rawObject = entry.raw?.object;
  if (rawObject == null || typeof rawObject !== "object" || Array.isArray(rawObject)) return null;
  let object = null;
  try {
    object = await activity.getObject({ documentLoader: ctx.documentLoader, crossOrigin: "ignore" });
  } catch (e) {
    entry.object_error = String(e);
    return null;
  }
  if (object == null) return null;
  entry.object_type = object.constructor?.typeId?.href?.split("#").pop() ?? null;
  if (entry.object_id == null) entry.object_id = hrefOf(object.id);
  if (object instanceof Activity) {
    entry.inner = {
      type: entry.object_type,
      id: hrefOf(object.id),
      actor: hrefOf(object.actorId),
      object: hrefOf(object.objectId),
    };
  }
  if (!(object instanceof Activity) && !isActor(object)) {
    entry.content = object.content == null ? null : String(object.content);
    entry.summary = object.summary == null ? null : String(object.summary);
    entry.in_reply_to = hrefOf(object.replyTargetId);
    entry.attributed_to = hrefOf(object.attributionId);
    entry.object_to = object.toIds.map(hrefOf);
    entry.object_cc = object.ccIds.map(hrefOf);
    entry.sensitive = object.sensitive ?? null;
    const blurhashes = blurhashFromRaw(entry.raw, entry.object_id);
    const attachments = [];
    for await (const att of object.getAttachments({ documentLoader: ctx.documentLoader })) {
      const url = att.url == null ? null : hrefOf(att.url.href ?? att.url);
      attachments.push({
        type: att.constructor?.typeId?.href?.split("#").pop() ?? null,
        url,
        mediaType: att.mediaType ?? null,
        name: att.name == null ? null : String(att.name),
        width: att.width ?? null,
        height: att.height ?? null,
        blurhash: url != null ? blurhashes.get(url) ?? null : null,
      });
    }
    entry.attachments = attachments;
    entry.tags = [];
    for await (const tag of object.getTags({ documentLoader: ctx.documentLoader })) {
      entry.tags.push({
        type: tag.constructor?.typeId?.href?.split("#").pop() ?? null,
        name: tag.name == null ? null : String(tag.name),
        href: hrefOf(tag.href),
      });
    }
  }
  return object;
}

async function record(ctx, activity) {
  const typeName = activity.constructor?.typeId?.href?.split("#").pop() ?? "Activity";
  const entry = {
    type: typeName,
    id: hrefOf(activity.id),
    actor: hrefOf(activity.actorId),
    object_id: hrefOf(activity.objectId),
    object_type: null,
    to: activity.toIds.map(hrefOf),
    cc: activity.ccIds.map(hrefOf),
    // Fedify only calls listeners for activities it authenticated (no onUnverifiedActivity handler).
    verified: true,
    verified_by: verificationMethodOf(verifications.get(hrefOf(activity.id))),
    verification: verifications.get(hrefOf(activity.id)) ?? null,
    // HTTP signature scheme present on the request (whether or not it was the verified path).
    signature_scheme: ctx.data?.signatureScheme ?? null,
    // Result of Fedify's verifyRequestDetailed() on the inbox POST (done by the peer itself, because
    // Fedify's inbox accepts an activity on a valid LD signature or proof without looking at HTTP
    // signatures).  With the default --require-http-signature, only verified requests get here.
    http_signature: ctx.data?.httpSignature ?? null,
    inbox: ctx.data?.path ?? null,
    received_at: new Date().toISOString(),
    raw: ctx.data?.rawJson ?? null,
  };
  const object = await describeObject(ctx, activity, entry);
  state.inboxLog.push(entry);
  return { entry, object };
}

const bobUri = () => federation.createContext(new URL(state.origin), {}).getActorUri(IDENTIFIER);

federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .on(Follow, async (ctx, follow) => {
    await record(ctx, follow);
    const target = ctx.parseUri(follow.objectId);
    if (target?.type !== "actor" || target.identifier !== IDENTIFIER) return;
    if (follow.id == null || follow.actorId == null) return;
    const follower = await follow.getActor(ctx);
    if (follower == null || follower.inboxId == null) return;
    state.followers.set(follower.id.href, {
      inbox: follower.inboxId.href,
      sharedInbox: follower.endpoints?.sharedInbox?.href ?? null,
    });
    const { uuid, uri } = newActivityId(ctx, Accept);
    const accept = rememberActivity(
      uuid,
      new Accept({ id: uri, actor: ctx.getActorUri(IDENTIFIER), object: follow, to: follower.id }),
    );
    await ctx.sendActivity({ identifier: IDENTIFIER }, follower, accept);
  })
  .on(Accept, async (ctx, accept) => {
    const { entry } = await record(ctx, accept);
    const followId = entry.inner?.id ?? entry.object_id;
    for (const [actorId, f] of state.following) {
      if (f.followId === followId || actorId === entry.actor) f.accepted = true;
    }
  })
  .on(Reject, async (ctx, reject) => {
    const { entry } = await record(ctx, reject);
    const followId = entry.inner?.id ?? entry.object_id;
    for (const [actorId, f] of state.following) {
      if (f.followId === followId) state.following.delete(actorId);
    }
  })
  .on(Undo, async (ctx, undo) => {
    const { entry } = await record(ctx, undo);
    if (entry.inner?.type === "Follow" && entry.actor != null && entry.inner.object === bobUri().href) {
      state.followers.delete(entry.actor);
    }
  })
  .on(Create, async (ctx, a) => void (await record(ctx, a)))
  .on(Update, async (ctx, a) => void (await record(ctx, a)))
  .on(Delete, async (ctx, a) => void (await record(ctx, a)))
  .on(Like, async (ctx, a) => void (await record(ctx, a)))
  .on(Announce, async (ctx, a) => void (await record(ctx, a)))
  .on(Activity, async (ctx, a) => void (await record(ctx, a)))
  .onError(async (_ctx, error) => {
    process.stderr.write(`inbox listener error: ${error?.stack ?? error}\n`);
  });

// ---------------------------------------------------------------------------------------------
// Control API helpers
// ---------------------------------------------------------------------------------------------
function json(status, body) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function controlContext() {
  return federation.createContext(new URL(state.origin), {});
}

async function lookupActor(ctx, target) {
  if (typeof target !== "string" || target === "") throw new HttpError(400, "missing 'target'");
  let actor;
  try {
    // Signed (authenticated) fetch as bob, the way Mastodon-style servers fetch actors.
    const documentLoader = await ctx.getDocumentLoader({ identifier: IDENTIFIER });
    actor = await ctx.lookupObject(target, { documentLoader });
  } catch (e) {
    throw new HttpError(502, `lookup of ${target} failed: ${e?.stack ?? e}`);
  }
  if (actor == null) throw new HttpError(502, `lookup of ${target} returned nothing`);
  if (actor.inboxId == null) throw new HttpError(502, `${target} has no inbox`);
  return actor;
}

async function send(ctx, recipients, activity) {
  try {
    await ctx.sendActivity({ identifier: IDENTIFIER }, recipients, activity, { preferSharedInbox: false });
  } catch (e) {
    throw new HttpError(502, `delivery failed: ${e?.stack ?? e}`);
  }
}

async function lookupActors(ctx, to) {
  if (!Array.isArray(to) || to.some((t) => typeof t !== "string")) {
    throw new HttpError(400, "'to' must be a list of actor URLs");
  }
  const actors = [];
  for (const t of to) actors.push(await lookupActor(ctx, t));
  return actors;
}

function addressing(ctx, actors, isPublic, followers) {
  const mentioned = actors.map((a) => a.id);
  const followersUri = ctx.getFollowersUri(IDENTIFIER);
  if (isPublic) return { to: [PUBLIC_COLLECTION, ...mentioned], cc: [followersUri] };
  return { to: followers ? [followersUri, ...mentioned] : mentioned, cc: [] };
}

function handleOf(actor) {
  const user = actor.preferredUsername == null ? "unknown" : String(actor.preferredUsername);
  return `@${user}@${actor.id.host}`;
}

function buildNote(ctx, body, { id, actors, to, cc, published }) {
  const attachments = [];
  for (const a of Array.isArray(body.attachments) ? body.attachments : []) {
    const mediaType = typeof a.mediaType === "string" ? a.mediaType : null;
    const cls = mediaType?.startsWith("image/") ? Image : Document;
    attachments.push(
      new cls({
        url: new URL(a.url),
        mediaType,
        name: typeof a.name === "string" ? a.name : null,
        width: Number.isInteger(a.width) ? a.width : null,
        height: Number.isInteger(a.height) ? a.height : null,
      }),
    );
  }
  return new Note({
    id,
    attribution: ctx.getActorUri(IDENTIFIER),
    content: typeof body.content === "string" ? body.content : "",
    summary: typeof body.summary === "string" ? body.summary : null,
    sensitive: body.sensitive === true,
    url: id,
    tos: to,
    ccs: cc,
    published,
    replyTarget: typeof body.inReplyTo === "string" ? new URL(body.inReplyTo) : null,
    attachments,
    tags: actors.map((a) => new Mention({ href: a.id, name: handleOf(a) })),
  });
}

function ownNote(ctx, noteId) {
  const parsed = typeof noteId === "string" ? ctx.parseUri(new URL(noteId)) : null;
  const uuid = parsed?.type === "object" && parsed.class === Note ? parsed.values.id : null;
  const note = uuid == null ? null : state.notes.get(uuid);
  if (note == null) throw new HttpError(404, `no note ${noteId} of bob`);
  return { uuid, note };
}

async function deliver(ctx, actors, followers, activity) {
  if (actors.length > 0) await send(ctx, actors, activity);
  if (followers) {
    try {
      await ctx.sendActivity({ identifier: IDENTIFIER }, "followers", activity, { preferSharedInbox: true });
    } catch (e) {
      throw new HttpError(502, `delivery to followers failed: ${e?.stack ?? e}`);
    }
  }
}

const routes = {
  "GET /control/inbox": async () => json(200, { activities: state.inboxLog }),
  "DELETE /control/inbox": async () => {
    state.inboxLog.length = 0;
    return json(200, { ok: true });
  },
  "GET /control/state": async () =>
    json(200, {
      actor: bobUri().href,
      followers: [...state.followers.keys()],
      following: Object.fromEntries(state.following),
      first_knock: opts.firstKnock,
    }),
  "GET /control/signing": async () => {
    const remembered = {};
    for (const o of state.remoteOrigins) {
      const spec = await kv.get([...SPEC_PREFIX, o]);
      if (spec != null) remembered[o] = spec;
    }
    return json(200, { first_knock: opts.firstKnock, remembered, outgoing: state.outgoing });
  },
  "DELETE /control/signing": async () => {
    for (const o of state.remoteOrigins) await kv.delete([...SPEC_PREFIX, o]);
    state.outgoing.length = 0;
    return json(200, { ok: true });
  },
  "POST /control/follow": async (body) => {
    const ctx = controlContext();
    const actor = await lookupActor(ctx, body.target);
    const { uuid, uri } = newActivityId(ctx, Follow);
    const follow = rememberActivity(
      uuid,
      new Follow({ id: uri, actor: ctx.getActorUri(IDENTIFIER), object: actor.id, to: actor.id }),
    );
    state.following.set(actor.id.href, { followId: uri.href, accepted: false });
    await send(ctx, actor, follow);
    return json(200, { follow_id: uri.href, target: actor.id.href });
  },
  "POST /control/unfollow": async (body) => {
    const ctx = controlContext();
    const actor = await lookupActor(ctx, body.target);
    const f = state.following.get(actor.id.href);
    if (f == null) throw new HttpError(409, `not following ${actor.id.href}`);
    const follow = new Follow({
      id: new URL(f.followId),
      actor: ctx.getActorUri(IDENTIFIER),
      object: actor.id,
    });
    const { uuid, uri } = newActivityId(ctx, Undo);
    const undo = rememberActivity(
      uuid,
      new Undo({ id: uri, actor: ctx.getActorUri(IDENTIFIER), object: follow, to: actor.id }),
    );
    await send(ctx, actor, undo);
    state.following.delete(actor.id.href);
    return json(200, { undo_id: uri.href });
  },
  "POST /control/create": async (body) => {
    const ctx = controlContext();
    const actors = await lookupActors(ctx, body.to ?? []);
    const followers = body.followers === true;
    const isPublic = body.public !== false;
    const noteUuid = randomUUID();
    const noteId = ctx.getObjectUri(Note, { identifier: IDENTIFIER, id: noteUuid });
    const { to, cc } = addressing(ctx, actors, isPublic, followers);
    const published = Temporal.Now.instant();
    const note = buildNote(ctx, body, { id: noteId, actors, to, cc, published });
    state.notes.set(noteUuid, note);
    state.noteRecipients.set(noteUuid, { actors: actors.map((a) => a.id.href), followers });
    const { uuid, uri } = newActivityId(ctx, Create);
    const create = rememberActivity(
      uuid,
      new Create({ id: uri, actor: ctx.getActorUri(IDENTIFIER), object: note, tos: to, ccs: cc, published }),
    );
    state.outbox.push(create);
    await deliver(ctx, actors, followers, create);
    return json(200, { create_id: uri.href, note_id: noteId.href });
  },
  "POST /control/update": async (body) => {
    const ctx = controlContext();
    const { uuid: noteUuid, note } = ownNote(ctx, body.note_id);
    const rec = state.noteRecipients.get(noteUuid);
    const actors = await lookupActors(ctx, body.to ?? rec.actors);
    const updated = Temporal.Now.instant();
    const newNote = note.clone({
      content: typeof body.content === "string" ? body.content : note.content,
      summary: typeof body.summary === "string" ? body.summary : note.summary,
      updated,
    });
    state.notes.set(noteUuid, newNote);
    const { uuid, uri } = newActivityId(ctx, Update);
    const update = rememberActivity(
      uuid,
      new Update({
        id: uri,
        actor: ctx.getActorUri(IDENTIFIER),
        object: newNote,
        tos: newNote.toIds,
        ccs: newNote.ccIds,
        published: updated,
      }),
    );
    await deliver(ctx, actors, rec.followers, update);
    return json(200, { update_id: uri.href, note_id: newNote.id.href });
  },
  "POST /control/delete": async (body) => {
    const ctx = controlContext();
    const { uuid: noteUuid, note } = ownNote(ctx, body.note_id);
    const rec = state.noteRecipients.get(noteUuid);
    const actors = await lookupActors(ctx, body.to ?? rec.actors);
    state.notes.delete(noteUuid);
    state.deleted.add(note.id.pathname);
    const { uuid, uri } = newActivityId(ctx, Delete);
    const del = rememberActivity(
      uuid,
      new Delete({
        id: uri,
        actor: ctx.getActorUri(IDENTIFIER),
        object: new Tombstone({ id: note.id }),
        tos: note.toIds,
        ccs: note.ccIds,
      }),
    );
    await deliver(ctx, actors, rec.followers, del);
    return json(200, { delete_id: uri.href });
  },
  "POST /control/undo": async (body) => {
    const ctx = controlContext();
    const parsed = typeof body.activity_id === "string" ? ctx.parseUri(new URL(body.activity_id)) : null;
    const activity = parsed?.type === "object" ? state.activities.get(parsed.values.id) : null;
    if (activity == null) throw new HttpError(404, `no activity ${body.activity_id} sent by bob`);
    const actors = await lookupActors(ctx, typeof body.to === "string" ? [body.to] : body.to ?? []);
    const { uuid, uri } = newActivityId(ctx, Undo);
    const undo = rememberActivity(
      uuid,
      new Undo({ id: uri, actor: ctx.getActorUri(IDENTIFIER), object: activity, tos: actors.map((a) => a.id) }),
    );
    await deliver(ctx, actors, body.followers === true, undo);
    return json(200, { undo_id: uri.href });
  },
  "POST /control/like": async (body) => {
    const ctx = controlContext();
    if (typeof body.object !== "string") throw new HttpError(400, "missing 'object'");
    const actor = await lookupActor(ctx, body.to);
    const { uuid, uri } = newActivityId(ctx, Like);
    const like = rememberActivity(
      uuid,
      new Like({ id: uri, actor: ctx.getActorUri(IDENTIFIER), object: new URL(body.object), to: actor.id }),
    );
    await send(ctx, actor, like);
    return json(200, { like_id: uri.href });
  },
  "POST /control/announce": async (body) => {
    const ctx = controlContext();
    if (typeof body.object !== "string") throw new HttpError(400, "missing 'object'");
    const actor = await lookupActor(ctx, body.to);
    const { uuid, uri } = newActivityId(ctx, Announce);
    const announce = rememberActivity(
      uuid,
      new Announce({
        id: uri,
        actor: ctx.getActorUri(IDENTIFIER),
        object: new URL(body.object),
        tos: [PUBLIC_COLLECTION, actor.id],
        ccs: [ctx.getFollowersUri(IDENTIFIER)],
        published: Temporal.Now.instant(),
      }),
    );
    state.outbox.push(announce);
    await send(ctx, actor, announce);
    return json(200, { announce_id: uri.href });
  },
  "POST /control/lookup": async (body) => {
    const ctx = controlContext();
    const obj = await lookupActor(ctx, body.target);
    return json(200, { object: await obj.toJsonLd({ format: "compact" }) });
  },
};

async function handleControl(request, path) {
  const handler = routes[`${request.method} ${path}`];
  if (handler == null) return json(404, { error: `no control route ${request.method} ${path}` });
  let body = {};
  if (request.method === "POST") {
    const text = await request.text();
    try {
      body = text === "" ? {} : JSON.parse(text);
    } catch (e) {
      return json(400, { error: `invalid JSON: ${e}` });
    }
    if (body == null || typeof body !== "object") return json(400, { error: "body must be a JSON object" });
  }
  try {
    return await handler(body);
  } catch (e) {
    if (e instanceof HttpError) return json(e.status, { error: e.message });
    return json(500, { error: String(e?.stack ?? e) });
  }
}

// ---------------------------------------------------------------------------------------------
// Node HTTP server -> standard Request -> Fedify (or the control API)
// ---------------------------------------------------------------------------------------------
async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks);
}

function incomingScheme(headers) {
  if (headers.has("signature-input")) return "rfc9421";
  if (headers.has("signature")) return "draft-cavage-http-signatures-12";
  return null;
}

const INBOX_PATH = /^\/(?:inbox|users\/[^/]+\/inbox)$/;

async function checkHttpSignature(request, rawJson) {
  const ctx = federation.createContext(new URL(state.origin), {});
  const scheme = incomingScheme(request.headers);
  if (opts.acceptScheme != null && scheme !== opts.acceptScheme) {
    // Simulates a server that knows only one scheme, to exercise the sender's double-knock.
    return { verified: false, scheme, key_id: null, owner: null, reason: "schemeNotAccepted" };
  }
  let result;
  try {
    result = await verifyRequestDetailed(request.clone(), {
      documentLoader: ctx.documentLoader,
      contextLoader: ctx.contextLoader,
    });
  } catch (e) {
    return { verified: false, scheme, key_id: null, owner: null, reason: `error: ${e}` };
  }
  if (!result.verified) {
    return {
      verified: false,
      scheme,
      key_id: hrefOf(result.reason.keyId),
      owner: null,
      reason: result.reason.type,
    };
  }
  const owner = hrefOf(result.key.ownerId);
  const rawActor = rawJson?.actor;
  const actor = typeof rawActor === "string" ? rawActor : rawActor?.id ?? null;
  if (actor != null && owner !== actor) {
    return { verified: false, scheme, key_id: hrefOf(result.key.id), owner, reason: "actorKeyMismatch" };
  }
  return { verified: true, scheme, key_id: hrefOf(result.key.id), owner, reason: null };
}

async function handle(req, res) {
  const url = new URL(req.url ?? "/", state.origin);
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (Array.isArray(v)) for (const x of v) headers.append(k, x);
    else if (v != null) headers.set(k, v);
  }
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  const body = hasBody ? await readBody(req) : null;
  const request = new Request(url, { method: req.method, headers, body });

  let response;
  if (url.pathname.startsWith("/control/")) {
    response = await handleControl(request, url.pathname);
  } else {
    let rawJson = null;
    if (body != null && body.length > 0) {
      try {
        rawJson = JSON.parse(body.toString("utf8"));
      } catch {
        rawJson = null;
      }
    }
    const contextData = { rawJson, signatureScheme: incomingScheme(headers), path: url.pathname };
    if (request.method === "POST" && INBOX_PATH.test(url.pathname)) {
      contextData.httpSignature = await checkHttpSignature(request, rawJson);
      if (opts.requireHttpSignature && !contextData.httpSignature.verified) {
        response = json(401, { error: "HTTP signature not verified", http_signature: contextData.httpSignature });
        response.headers.set("vary", "Accept, Signature");
      }
    }
    if (response == null && request.method === "GET" && state.deleted.has(url.pathname)) {
      response = json(410, { "@context": "https://www.w3.org/ns/activitystreams", id: url.href, type: "Tombstone" });
      response.headers.set("content-type", "application/activity+json");
    }
    response ??= await federation.fetch(request, { contextData });
  }
  res.statusCode = response.status;
  response.headers.forEach((v, k) => res.setHeader(k, v));
  const out = Buffer.from(await response.arrayBuffer());
  res.end(out);
}

async function main() {
  // 2048-bit RSA like Mastodon (Fedify's generateCryptoKeyPair makes 4096-bit keys: slow start-up).
  state.keyPairs.push(
    await crypto.subtle.generateKey(
      {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: "SHA-256",
      },
      true,
      ["sign", "verify"],
    ),
  );
  if (!opts.rsaOnly) state.keyPairs.push(await generateCryptoKeyPair("Ed25519"));

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      process.stderr.write(`request error: ${e?.stack ?? e}\n`);
      if (!res.headersSent) res.statusCode = 500;
      res.end();
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, HOST, resolve);
  });
  const port = server.address().port;
  state.origin = `http://${HOST}:${port}`;
  process.stdout.write(`READY ${state.origin}\n`);

  const stop = () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  if (opts.watchStdin) {
    process.stdin.on("end", stop);
    process.stdin.on("error", stop);
    process.stdin.resume();
  }
}

main().catch((e) => {
  process.stderr.write(`fatal: ${e?.stack ?? e}\n`);
  process.exit(1);
});
