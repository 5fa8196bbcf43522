using Microsoft.ML.OnnxRuntime;

namespace ReverseSD.MLNet.Backbones;

/// <summary>
/// The fast featurisation path: image files in, backbone features out, in input order. Decoding and resizing run on
/// worker threads (bounded queue, reused buffers), inference in one ONNX Runtime session with one intra-op thread per
/// core on batches of several images (pre-allocated input and output). Its features equal the ML.NET chain's
/// (<see cref="ImageBackboneEstimator"/>), which the saved model keeps for apps. Unreadable images give a problem, never an exception.
/// </summary>
internal sealed class BatchedImageFeaturizer : IImageFeaturizer
{
    /// <summary>Images per ONNX Runtime call when none is given (measured with <c>reversesd bench backbone</c>).</summary>
    public const int DefaultBatchSize = 8;

    private readonly InferenceSession _session;
    private readonly ImagePreprocessing _spec;
    private readonly string _inputName;
    private readonly string _outputName;
    private readonly int _batchSize;
    private readonly int _decodeThreads;
    private bool _disposed;

    private BatchedImageFeaturizer(byte[] model, string inputName, string outputName, int featureSize, ImagePreprocessing spec,
        int batchSize, int? inferenceThreads, int? decodeThreads, int? gpuDeviceId)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        _spec = spec;
        _inputName = inputName;
        _outputName = outputName;
        _batchSize = batchSize;
        FeatureSize = featureSize;
        _decodeThreads = Math.Max(1, decodeThreads ?? Environment.ProcessorCount);
        _session = CreateSession(model, inferenceThreads ?? Environment.ProcessorCount, gpuDeviceId);
    }

    /// <summary>Length of a feature vector.</summary>
    public int FeatureSize { get; }

    /// <summary>Images per ONNX Runtime call.</summary>
    public int BatchSize => _batchSize;

    /// <summary>
    /// A featuriser for <paramref name="backbone"/>; <paramref name="inferenceThreads"/> and <paramref name="decodeThreads"/>
    /// default to the number of cores.
    /// </summary>
    public static BatchedImageFeaturizer Create(ImageBackbone backbone, int batchSize = DefaultBatchSize,
        int? inferenceThreads = null, int? decodeThreads = null, int? gpuDeviceId = null)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        const string pixels = "pixels", features = "features";
        byte[] model = backbone.Compose(pixels, features);
        return new BatchedImageFeaturizer(model, pixels, features, backbone.FeatureSize, backbone.Preprocessing,
            batchSize, inferenceThreads, decodeThreads, gpuDeviceId);
    }

    /// <summary>
    /// A featuriser for a backbone graph read back from a saved model (<see cref="ImageBackbone.ReadComposed(byte[])"/>): the
    /// graph carries its preprocessing, input and output names.
    /// </summary>
    internal static BatchedImageFeaturizer FromComposed(ComposedBackbone composed, int batchSize = DefaultBatchSize,
        int? inferenceThreads = null, int? decodeThreads = null) =>
        new(composed.Model, composed.InputName, composed.OutputName, composed.FeatureSize, composed.Preprocessing,
            batchSize, inferenceThreads, decodeThreads, null);

    /// <summary>Creates the ONNX Runtime session the fast path and <c>bench backbone</c>'s raw measure share.</summary>
    internal static InferenceSession CreateSession(byte[] model, int intraOpThreads, int? gpuDeviceId = null) =>
        // Decoder threads share the cores: ORT's idle intra-op threads must not spin on them.
        Onnx.OnnxSessions.Create(model, intraOpThreads, gpuDeviceId, allowSpinning: false);

    /// <summary>
    /// One result per path, in order: the features, or the problem of an image that does not decode. Decoding runs
    /// ahead of inference by at most a few batches, so memory stays flat however many paths there are.
    /// </summary>
    public IEnumerable<FeaturizedImage> Featurize(IReadOnlyList<string> imagePaths, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(imagePaths);
        return imagePaths.Count == 0 ? [] : Run(imagePaths, cancellationToken);
    }

    private IEnumerable<FeaturizedImage> Run(IReadOnlyList<string> paths, CancellationToken cancellationToken)
    {
        int chw = 3 * _spec.Width * _spec.Height;
        int workers = Math.Min(_decodeThreads, paths.Count);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var decoded = new DecodeQueue(paths.Count, 2 * _batchSize + workers, chw);
        var tasks = Enumerable.Range(0, workers)
            .Select(_ => Task.Factory.StartNew(() => Decode(paths, decoded, stop.Token), stop.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default))
            .ToArray();
        try
        {
            var input = new float[_batchSize * chw];
            var output = new float[_batchSize * FeatureSize];
            var window = new List<(float[]? Pixels, string? Problem)>(4 * _batchSize);
            using var runOptions = new RunOptions();
            int next = 0;
            bool first = true;
            while (next < paths.Count)
            {
                // A window: up to one batch of readable images and the unreadable ones between them, in order.
                window.Clear();
                int readable = 0;
                while (next < paths.Count && readable < _batchSize)
                {
                    (float[]? Pixels, string? Problem) item;
                    using (PhaseTimes.Measure("fast path: wait for decoded images"))
                        item = decoded.Take(next++, stop.Token, tasks);
                    window.Add(item);
                    if (item.Pixels != null)
                    {
                        item.Pixels.CopyTo(input.AsSpan(readable * chw, chw));
                        decoded.Return(item.Pixels);
                        readable++;
                    }
                }
                if (readable > 0)
                {
                    using var _ = PhaseTimes.Measure(first ? "fast path: first ONNX Runtime call" : "fast path: ONNX Runtime calls");
                    Infer(runOptions, input, output, readable, chw);
                    first = false;
                }
                int k = 0;
                foreach (var (pixels, problem) in window)
                {
                    if (pixels == null)
                    {
                        yield return new FeaturizedImage(null, problem);
                        continue;
                    }
                    yield return new FeaturizedImage(output.AsSpan(k * FeatureSize, FeatureSize).ToArray(), null);
                    k++;
                }
            }
        }
        finally
        {
            stop.Cancel();
            try
            {
                Task.WaitAll(tasks);
            }
            catch (AggregateException e) when (e.InnerExceptions.All(x => x is OperationCanceledException))
            {
            }
        }
    }

    private void Infer(RunOptions runOptions, float[] input, float[] output, int count, int chw)
    {
        long[] inputShape = [count, 3, _spec.Height, _spec.Width];
        long[] outputShape = [count, FeatureSize];
        using var inputValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, input.AsMemory(0, count * chw), inputShape);
        using var outputValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, output.AsMemory(0, count * FeatureSize), outputShape);
        _session.Run(runOptions, [_inputName], [inputValue], [_outputName], [outputValue]);
    }

    private void Decode(IReadOnlyList<string> paths, DecodeQueue queue, CancellationToken cancellationToken)
    {
        using var loader = new ImagePixelLoader(_spec);
        try
        {
            while (true)
            {
                var buffer = queue.Rent(cancellationToken);
                int index = queue.NextIndex();
                if (index >= paths.Count)
                {
                    queue.Return(buffer);
                    return;
                }
                string? problem = loader.Load(paths[index], buffer);
                queue.Put(index, problem == null ? buffer : null, problem);
                if (problem != null) queue.Return(buffer);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// The decoded images waiting for inference, keyed by input index, and the pool of pixel buffers that bounds them.
    /// A worker takes a buffer before it takes the next index, so the lowest index in flight always has one.
    /// </summary>
    private sealed class DecodeQueue(int count, int buffers, int bufferLength) : IDisposable
    {
        private readonly System.Collections.Concurrent.BlockingCollection<float[]> _free = Pool(buffers, bufferLength);
        private readonly Dictionary<int, (float[]? Pixels, string? Problem)> _ready = [];
        private readonly object _gate = new();
        private int _next = -1;

        private static System.Collections.Concurrent.BlockingCollection<float[]> Pool(int buffers, int length)
        {
            var pool = new System.Collections.Concurrent.BlockingCollection<float[]>();
            for (int i = 0; i < buffers; i++) pool.Add(new float[length]);
            return pool;
        }

        public float[] Rent(CancellationToken cancellationToken) => _free.Take(cancellationToken);

        public void Return(float[] buffer) => _free.Add(buffer);

        public int NextIndex() => Math.Min(Interlocked.Increment(ref _next), count);

        public void Put(int index, float[]? pixels, string? problem)
        {
            lock (_gate)
            {
                _ready[index] = (pixels, problem);
                Monitor.PulseAll(_gate);
            }
        }

        /// <summary>Waits for image <paramref name="index"/>; rethrows a worker's failure instead of waiting forever.</summary>
        public (float[]? Pixels, string? Problem) Take(int index, CancellationToken cancellationToken, Task[] workers)
        {
            lock (_gate)
            {
                while (true)
                {
                    if (_ready.Remove(index, out var item)) return item;
                    cancellationToken.ThrowIfCancellationRequested();
                    var failed = workers.FirstOrDefault(t => t.IsFaulted);
                    if (failed != null) throw new InvalidOperationException("An image decoding thread failed.", failed.Exception!.InnerException);
                    Monitor.Wait(_gate, TimeSpan.FromMilliseconds(200));
                }
            }
        }

        public void Dispose() => _free.Dispose();
    }

    /// <summary>Releases the ONNX Runtime session; safe to call more than once.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _session.Dispose();
    }
}
