using System.Diagnostics;
using System.Net.Http.Headers;

namespace ReverseSD.Serving;

/// <summary>What a load test measured: throughput, latency percentiles, errors and the process's resident memory over the run.</summary>
/// <param name="Requests">Requests sent (each one image).</param>
/// <param name="Errors">Requests that did not return 200.</param>
/// <param name="FirstError">The first error's status and body, or null.</param>
/// <param name="Seconds">Wall-clock seconds from the first request to the last answer.</param>
/// <param name="LatenciesMs">Per-request latency in milliseconds, sorted.</param>
/// <param name="RssAfterFirstTenthBytes">Resident memory when a tenth of the requests had been answered.</param>
/// <param name="RssAtEndBytes">Resident memory after the last answer.</param>
/// <param name="PeakRssBytes">The highest resident memory sampled during the run (every 50 ms).</param>
public sealed record LoadTestResult(int Requests, int Errors, string? FirstError, double Seconds, IReadOnlyList<double> LatenciesMs,
    long RssAfterFirstTenthBytes, long RssAtEndBytes, long PeakRssBytes)
{
    /// <summary>Answered requests per second.</summary>
    public double RequestsPerSecond => Requests / Seconds;

    /// <summary>The latency at quantile <paramref name="q"/> (0..1), nearest rank.</summary>
    public double Percentile(double q) =>
        LatenciesMs.Count == 0 ? double.NaN : LatenciesMs[Math.Clamp((int)Math.Ceiling(q * LatenciesMs.Count) - 1, 0, LatenciesMs.Count - 1)];
}

/// <summary>
/// Sends a bounded number of single-image POST /v1/predict requests from a fixed number of concurrent clients to a
/// server on this machine (a loopback address only: it is a benchmark of our own server, never a network client), then
/// stops: nothing runs after the last answer.
/// </summary>
public static class ServeLoadTest
{
    /// <summary>Runs <paramref name="requests"/> requests, image i % n each, with <paramref name="concurrency"/> clients.</summary>
    public static async Task<LoadTestResult> RunAsync(Uri baseAddress, IReadOnlyList<byte[]> pngImages, int requests, int concurrency,
        IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(baseAddress);
        if (!baseAddress.IsLoopback)
            throw new ArgumentException($"The load test only talks to a server on this machine; '{baseAddress}' is not a loopback address.", nameof(baseAddress));
        ArgumentNullException.ThrowIfNull(pngImages);
        ArgumentOutOfRangeException.ThrowIfLessThan(pngImages.Count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(requests, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = concurrency, UseProxy = false };
        using var client = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(5) };
        var latencies = new double[requests];
        int next = -1, done = 0, errors = 0;
        string? firstError = null;
        long rssAtTenth = 0, peak = ResidentBytes();
        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                long rss = ResidentBytes();
                if (rss > Interlocked.Read(ref peak)) Interlocked.Exchange(ref peak, rss);
                try { await Task.Delay(50, sampling.Token); } catch (OperationCanceledException) { break; }
            }
        }, CancellationToken.None);

        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < requests)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var content = new ByteArrayContent(pngImages[i % pngImages.Count]);
                content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
                long start = Stopwatch.GetTimestamp();
                using var response = await client.PostAsync("v1/predict", content, cancellationToken);
                string body = await response.Content.ReadAsStringAsync(cancellationToken);
                latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                if (!response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref errors);
                    Interlocked.CompareExchange(ref firstError, $"{(int)response.StatusCode}: {body}", null);
                }
                int answered = Interlocked.Increment(ref done);
                if (answered == Math.Max(1, requests / 10)) Interlocked.Exchange(ref rssAtTenth, ResidentBytes());
                progress?.Report(answered);
            }
        }, cancellationToken)).ToList();
        try
        {
            await Task.WhenAll(workers);
        }
        finally
        {
            await sampling.CancelAsync();
            await sampler;
        }
        double seconds = clock.Elapsed.TotalSeconds;
        long end = ResidentBytes();
        Array.Sort(latencies);
        return new LoadTestResult(requests, errors, firstError, seconds, latencies, rssAtTenth, end, Math.Max(Interlocked.Read(ref peak), end));
    }

    /// <summary>This process's resident set size (VmRSS), or the working set where /proc is absent.</summary>
    public static long ResidentBytes()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
        }
        return Environment.WorkingSet;
    }
}
