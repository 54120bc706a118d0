// Upload a data file with a real progress bar (XMLHttpRequest upload events), then go to the load's page.
// Without this script the form still posts normally and the server redirects to the load.
(function () {
  var form = document.getElementById("upload-form");
  if (!form) { return; }
  var box = form.querySelector(".upload-progress");
  var bar = document.getElementById("upload-progress");
  var percent = document.getElementById("upload-percent");
  var message = document.getElementById("upload-message");
  var button = document.getElementById("upload-button");

  function size(bytes) {
    if (bytes >= 1073741824) { return (bytes / 1073741824).toFixed(1) + " GB"; }
    if (bytes >= 1048576) { return (bytes / 1048576).toFixed(1) + " MB"; }
    return Math.max(1, Math.round(bytes / 1024)) + " KB";
  }

  function fail(text) {
    message.textContent = text;
    button.disabled = false;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var input = form.querySelector('input[type="file"]');
    var file = input.files && input.files[0];
    message.textContent = "";
    if (!file) { fail("请选择要上传的数据文件"); return; }
    var limit = parseInt(form.getAttribute("data-max-bytes"), 10);
    if (limit && file.size > limit) {
      fail("文件 " + size(file.size) + " 超过平台上限 " + form.getAttribute("data-max-label") +
           "：请拆成几个文件分批用增量模式上传，或请平台管理员用命令行 jutong ingest 归集");
      return;
    }
    var meta = document.querySelector('meta[name="csrf-token"]');
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    if (meta) { xhr.setRequestHeader("X-CSRF-Token", meta.content); }
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) { return; }
      var p = Math.floor(e.loaded * 100 / e.total);
      bar.value = p;
      percent.textContent = p + "%（" + size(e.loaded) + " / " + size(e.total) + "）";
    });
    xhr.addEventListener("load", function () {
      var body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = {}; }
      if (xhr.status === 202 && body.location) {
        bar.value = 100;
        percent.textContent = "上传完成，正在排队归集…";
        window.location.assign(body.location);
        return;
      }
      var fix = body.detail && body.detail.fix ? "。" + body.detail.fix : "";
      fail((body.message || ("上传失败（HTTP " + xhr.status + "）")) + fix);
    });
    xhr.addEventListener("error", function () { fail("网络中断，文件没有传完，请重试"); });
    button.disabled = true;
    box.hidden = false;
    bar.value = 0;
    percent.textContent = "0%";
    xhr.send(new FormData(form));
  });
})();
