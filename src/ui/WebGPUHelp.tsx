/** What to do when this browser cannot give us a GPU. */
export function WebGPUHelp({ reason, message }: { reason: string; message: string }) {
  const title =
    reason === 'no-api'
      ? 'This browser does not support WebGPU'
      : reason === 'no-adapter'
        ? 'WebGPU is turned on, but no GPU is available to it'
        : 'WebGPU could not start';
  return (
    <section className="card warn" role="alert" aria-labelledby="nogpu-title">
      <h2 id="nogpu-title">{title}</h2>
      <p>
        This app runs the language model on your graphics processor through WebGPU, so it needs a browser that has it. Nothing is
        downloaded until it does.
      </p>
      <h3>What you can do</h3>
      <ul>
        <li>
          <strong>Chrome or Edge 113+</strong> on Windows, macOS and ChromeOS have WebGPU on by default; on Android, Chrome 121+.
        </li>
        <li>
          <strong>Safari 26+</strong> on macOS, iOS and iPadOS has it on by default.
        </li>
        <li>
          <strong>Firefox 141+</strong> on Windows has it; on other systems enable <code>dom.webgpu.enabled</code> in{' '}
          <code>about:config</code>.
        </li>
        <li>
          <strong>Chrome on Linux</strong>: enable <code>chrome://flags/#enable-unsafe-webgpu</code> (and Vulkan:{' '}
          <code>chrome://flags/#enable-vulkan</code>), then restart the browser.
        </li>
        <li>If WebGPU is on but no GPU is found, update your graphics driver, or check that hardware acceleration is enabled in the browser settings.</li>
      </ul>
      <details>
        <summary>Technical detail</summary>
        <p data-testid="nogpu-detail">{message}</p>
      </details>
    </section>
  );
}
