using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace ReverseSD.MLNet.Tests.Serving;

/// <summary>`reversesd serve` as a user runs it: a separate process on a loopback port, stopped by a signal.</summary>
[Collection(ServeCollection.Name)]
[Trait("Category", "Slow")]
public sealed class ServeCommandTests(ServeFixture fixture)
{
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    [Theory]
    [InlineData(15)] // SIGTERM
    [InlineData(2)] // SIGINT (Ctrl-C)
    public async Task ASignalLetsTheInFlightRequestFinishThenExitsZero(int signal)
    {
        int port = FreePort();
        string cli = Path.Combine(AppContext.BaseDirectory, "reversesd.dll");
        // Through env --default-signal=INT (it execs dotnet: same PID), so SIGINT reaches serve at its default as from a terminal:
        // a test run started in the background by a non-interactive shell ignores SIGINT, and every child inherits that.
        var start = new ProcessStartInfo("env") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in new[] { "--default-signal=INT", "dotnet", cli, "serve", "--model", fixture.Tiny.Model, "--urls", $"http://127.0.0.1:{port}", "--max-concurrency", "1",
                     "--shutdown-timeout", "300" })
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stderr = new System.Text.StringBuilder();
        var listening = new TaskCompletionSource();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data == null) return;
            lock (stderr) stderr.AppendLine(e.Data);
            if (e.Data.StartsWith("listening on", StringComparison.Ordinal)) listening.TrySetResult();
        };
        process.BeginErrorReadLine();
        var stdout = process.StandardOutput.ReadToEndAsync();
        try
        {
            await listening.Task.WaitAsync(TimeSpan.FromMinutes(2));
            Assert.DoesNotContain("0.0.0.0", stderr.ToString());

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(5) };
            byte[] image = File.ReadAllBytes(fixture.Images[0]);
            using var form = new MultipartFormDataContent();
            for (int i = 0; i < 16; i++)
            {
                var part = new ByteArrayContent(image);
                part.Headers.ContentType = new MediaTypeHeaderValue("image/png");
                form.Add(part, "images", $"{i}.png");
            }
            var batch = http.PostAsync("/v1/predict/batch", form);
            await Task.Delay(300); // the batch is being scored (16 images take a second or more)
            Assert.False(batch.IsCompleted, "the batch finished before the signal; the test needs it in flight");
            Assert.Equal(0, Kill(process.Id, signal));

            using var response = await batch;
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(16, json.GetProperty("scored").GetInt32());
            bool exited = process.WaitForExit(120_000);
            string said;
            lock (stderr) said = stderr.ToString();
            // Its stderr says how far the shutdown got ("stopped" is written once the host has stopped, before disposal).
            Assert.True(exited, $"serve did not exit within 120 s of the answer; stderr so far: {said}");
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}; stderr: {stderr}");
            Assert.Contains("stopped", stderr.ToString());
            await stdout;
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public void AMissingModelIsBadInputWithExitCode2()
    {
        var result = CliRunner.Run("serve", "--model", "no-such-model.zip", "--urls", "http://127.0.0.1:0");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no-such-model.zip", result.Output);
        var badOption = CliRunner.Run("serve", "--model", fixture.Tiny.Model, "--max-concurrency", "0");
        Assert.Equal(2, badOption.ExitCode);
        Assert.Contains("--max-concurrency", badOption.Output);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
