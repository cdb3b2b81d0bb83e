// The mask painter (js_on_load of the painter gr.HTML; its HTML is ui/painter.py). Strokes live here, in image
// pixels, and are published as the component's value on every change, so Clear, Undo and painting never wait on
// the server and no stroke is lost. The picture is uploaded once, through the playground's guarded upload route.
const root = element.querySelector(".pf-painter");
const canvas = root.querySelector(".pf-canvas");
const stage = root.querySelector(".pf-stage");
const fileInput = root.querySelector(".pf-file");
const brush = root.querySelector(".pf-brush");
const brushValue = root.querySelector(".pf-brush-value");
const status = root.querySelector(".pf-painter-status");
const ink = document.createElement("canvas");  // strokes drawn solid, then laid over the picture translucent
let picture = null;  // {path, url, width, height}
let image = null;
let strokes = [];
let current = null;

function publish() {
  props.value = {image: picture, strokes: strokes.map((s) => ({size: s.size, points: s.points}))};
  root.dataset.strokes = String(strokes.length);
}

function say(text) { status.textContent = text; }

function redraw() {
  if (!image) return;
  const box = stage.getBoundingClientRect();
  const ratio = window.devicePixelRatio || 1;
  const scale = Math.min(box.width / picture.width, (window.innerHeight * 0.6) / picture.height, 1e9);
  const width = Math.max(1, Math.round(picture.width * scale));
  const height = Math.max(1, Math.round(picture.height * scale));
  canvas.style.width = width + "px";
  canvas.style.height = height + "px";
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  ink.width = canvas.width;
  ink.height = canvas.height;
  const k = canvas.width / picture.width;  // image pixels → canvas pixels
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  context.drawImage(image, 0, 0, canvas.width, canvas.height);
  const pen = ink.getContext("2d");
  pen.clearRect(0, 0, ink.width, ink.height);
  pen.strokeStyle = pen.fillStyle = "#ff2d55";
  pen.lineCap = pen.lineJoin = "round";
  for (const stroke of strokes.concat(current ? [current] : [])) {
    pen.lineWidth = stroke.size * k;
    pen.beginPath();
    const [x0, y0] = stroke.points[0];
    if (stroke.points.length === 1) {
      pen.arc(x0 * k, y0 * k, (stroke.size * k) / 2, 0, 2 * Math.PI);
      pen.fill();
      continue;
    }
    pen.moveTo(x0 * k, y0 * k);
    for (const [x, y] of stroke.points.slice(1)) pen.lineTo(x * k, y * k);
    pen.stroke();
  }
  context.globalAlpha = 0.6;
  context.drawImage(ink, 0, 0);
  context.globalAlpha = 1;
}

function show(next, nextStrokes) {
  const loading = new Image();
  loading.onload = () => {
    picture = {path: next.path, url: next.url, width: loading.naturalWidth, height: loading.naturalHeight};
    image = loading;
    strokes = nextStrokes || [];
    root.dataset.state = "ready";
    publish();
    redraw();
    say(`Picture ${picture.width}×${picture.height}: paint over what to change.`);
  };
  loading.onerror = () => say("That picture could not be shown; choose it again.");
  loading.src = next.url;
}

async function take(file) {
  if (!file) return;
  say("Uploading…");
  root.dataset.state = picture ? "ready" : "empty";
  try {
    const sent = await upload(file);
    show(sent, []);
  } catch (error) {
    const reason = String(error && error.message ? error.message : error).replace(/^HTTP \d+: /, "");
    say("The picture was not accepted: " + reason);
  }
}

function imagePoint(event) {
  const rect = canvas.getBoundingClientRect();
  return [Math.round(((event.clientX - rect.left) / rect.width) * picture.width * 10) / 10,
          Math.round(((event.clientY - rect.top) / rect.height) * picture.height * 10) / 10];
}

canvas.addEventListener("pointerdown", (event) => {
  if (!picture) return;
  canvas.setPointerCapture(event.pointerId);
  const size = Number(brush.value) * (picture.width / canvas.getBoundingClientRect().width);
  current = {size: Math.max(1, Math.round(size)), points: [imagePoint(event)]};
  redraw();
  event.preventDefault();
});
canvas.addEventListener("pointermove", (event) => {
  if (!current) return;
  current.points.push(imagePoint(event));
  redraw();
});
function endStroke() {
  if (!current) return;
  strokes.push(current);
  current = null;
  publish();
  redraw();
}
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

root.querySelector(".pf-clear").addEventListener("click", () => {
  strokes = [];
  current = null;
  publish();
  redraw();
  say("Mask cleared: paint again.");
});
root.querySelector(".pf-undo").addEventListener("click", () => {
  strokes.pop();
  publish();
  redraw();
});
brush.addEventListener("input", () => { brushValue.textContent = brush.value; });
fileInput.addEventListener("change", () => { take(fileInput.files[0]); fileInput.value = ""; });
root.addEventListener("dragover", (event) => { event.preventDefault(); });
root.addEventListener("drop", (event) => {
  event.preventDefault();
  take(event.dataTransfer && event.dataTransfer.files[0]);
});
new ResizeObserver(() => redraw()).observe(stage);

function follow() {  // the server set a picture (a result used as input) or cleared the painter
  const value = props.value;
  if (value && value.image && value.image.url) {
    if (!picture || value.image.path !== picture.path) show(value.image, value.strokes || []);
  } else if (!value) {
    picture = image = null;
    strokes = [];
    root.dataset.state = "empty";
    say("");
  }
}
watch("value", follow);
follow();  // a tab opened for the first time mounts with the value it was given while hidden
