// Links the clip's playback to the timeline (issue 24), loaded once with the page (launch(js=...)).
// Every 200 ms: a red cursor over the timeline follows the video's time; a click on a second of the
// timeline seeks the video to that second and asks the server for its heatmaps (the hidden
// #selected-second box). Both plots' x axes are one (x2 matches x), so one cursor spans the figure.
() => {
  let clicks = 0;
  const plotOf = () => document.querySelector("#timeline .js-plotly-plot");
  const videoOf = () => document.querySelector("#video-input video");

  function select(second) {
    const video = videoOf();
    if (video) {
      video.pause();
      video.currentTime = second + 0.5;  // the middle of the second: the frame the analysis used
    }
    const box = document.querySelector("#selected-second textarea, #selected-second input");
    if (box) {
      clicks += 1;
      box.value = `${second}@${clicks}`;
      box.dispatchEvent(new Event("input", { bubbles: true }));
    }
  }

  function hook(plot) {
    if (plot.__avelHooked || typeof plot.on !== "function") return;
    plot.__avelHooked = true;
    plot.on("plotly_click", (data) => {
      const point = data.points[0];
      // a row's cells are bars numbered by second; the probability lines sit at t + 0.5
      const second = point.data.type === "bar" ? point.pointNumber : Math.floor(point.x);
      if (Number.isInteger(second) && second >= 0) select(second);
    });
  }

  function follow(plot) {
    const layout = plot._fullLayout;
    const axis = layout && (layout.xaxis2 || layout.xaxis);
    const video = videoOf();
    let cursor = plot.querySelector("#timeline-cursor");
    if (!axis || !video || !Number.isFinite(video.duration)) {
      if (cursor) cursor.style.display = "none";
      return;
    }
    if (!cursor) {
      cursor = document.createElement("div");
      cursor.id = "timeline-cursor";
      if (getComputedStyle(plot).position === "static") plot.style.position = "relative";
      plot.appendChild(cursor);
    }
    const [low, high] = axis.range;
    const time = video.currentTime;
    const inside = time >= low && time <= high;
    // plotly's pixel offsets count from its drawing (.main-svg), the cursor's from its containing box
    cursor.style.display = inside ? "block" : "none";
    const svg = plot.querySelector(".main-svg").getBoundingClientRect();
    const box = (cursor.offsetParent || plot).getBoundingClientRect();
    cursor.style.left = `${svg.left - box.left + axis._offset + axis.l2p(time) - 1}px`;
    cursor.style.top = `${svg.top - box.top + layout._size.t}px`;
    cursor.style.height = `${layout._size.h}px`;
    cursor.dataset.time = time.toFixed(2);
  }

  setInterval(() => {
    const plot = plotOf();
    if (!plot) return;
    hook(plot);
    follow(plot);
  }, 200);
}
