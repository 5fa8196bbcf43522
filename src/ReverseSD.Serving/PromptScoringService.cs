using Microsoft.Extensions.ObjectPool;
using Microsoft.ML;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Pipeline;
using ReverseSD.MLNet.Retrieval;

namespace ReverseSD.Serving;

/// <summary>An uploaded image: the name the client gave it and its bytes (already checked by <see cref="ImageValidation.FindProblem(ReadOnlySpan{byte})"/>).</summary>
/// <param name="Name">The client's file name, or "image" for a raw body.</param>
/// <param name="Bytes">The image file's bytes.</param>
public sealed record UploadedImage(string Name, byte[] Bytes);

/// <summary>The outcome for one uploaded image: its prediction, or why it could not be scored.</summary>
/// <param name="Name">The client's file name.</param>
/// <param name="Prediction">What <c>reversesd predict</c> returns for the same file, or null when it was skipped.</param>
/// <param name="Problem">Why the image was skipped (it did not decode), or null.</param>
public sealed record ScoredImage(string Name, PromptPrediction? Prediction, string? Problem);

/// <summary>
/// The model, loaded once, scoring uploaded images with the same library call as <c>reversesd predict</c>
/// (<c>ReverseSdModel.Predict</c> with the prediction options: bank, composition). Each request rents a scorer (its own MLContext) from a bounded pool, so
/// concurrent requests never share per-call state; the loaded transformer chain is shared and only read.
/// </summary>
public sealed class PromptScoringService : IDisposable
{
    private readonly ITransformer _model;
    private readonly ObjectPool<Scorer> _scorers;
    private readonly string _uploads;
    private readonly int _topWords;
    private readonly PromptBank? _bank;
    private readonly PromptPredictionOptions _prediction;
    private int _disposed;

    /// <summary>Loads the model of <paramref name="options"/> (a clear <see cref="MLNet.ReverseSdInputException"/> when it cannot).</summary>
    public PromptScoringService(ServeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var ml = new MLContext(1);
        _bank = options.BankPath == null ? null : PromptBank.Open(options.BankPath);
        _model = ReverseSdModel.Load(ml, options.ModelPath);
        Model = ModelDescription.Of(ml, _model, options.ModelPath);
        _topWords = options.TopWords;
        // The same options `reversesd predict --bank --compose` builds (the composer's defaults), shared read-only by every request.
        _prediction = new PromptPredictionOptions { TopWords = options.TopWords, Bank = _bank, Composition = options.Composition };
        _scorers = new DefaultObjectPool<Scorer>(new ScorerPolicy(), options.MaxConcurrency);
        // Uploads become files for the model's image loader (it reads paths); a private folder, removed on Dispose.
        _uploads = Path.Combine(Path.GetTempPath(), $"reversesd-serve-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_uploads);
    }

    /// <summary>The served model's format, backbones and training date.</summary>
    public ModelDescription Model { get; }

    /// <summary>Vocabulary words returned per image.</summary>
    public int TopWords => _topWords;

    /// <summary>Scores the images in one library call; the results are in input order, skipped images with their reason.</summary>
    public IReadOnlyList<ScoredImage> Score(IReadOnlyList<UploadedImage> images, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
        var paths = new List<string>(images.Count);
        try
        {
            foreach (var image in images)
            {
                string path = Path.Combine(_uploads, Guid.NewGuid().ToString("N") + Extension(image.Bytes));
                File.WriteAllBytes(path, image.Bytes);
                paths.Add(path);
            }
            var scorer = _scorers.Get();
            IReadOnlyList<PromptPrediction> predictions;
            IReadOnlyList<UnreadableImage> skipped;
            try
            {
                predictions = ReverseSdModel.Predict(scorer.MLContext, _model, paths, _prediction, out skipped, cancellationToken);
            }
            finally
            {
                _scorers.Return(scorer);
            }
            var byPath = predictions.ToDictionary(p => p.ImagePath, StringComparer.Ordinal);
            var problems = skipped.ToDictionary(s => Path.GetFullPath(s.Path), s => s.Reason, StringComparer.Ordinal);
            return images.Select((image, i) =>
            {
                string full = Path.GetFullPath(paths[i]);
                return byPath.TryGetValue(full, out var p)
                    ? new ScoredImage(image.Name, p with { ImagePath = image.Name }, null)
                    : new ScoredImage(image.Name, null, problems.GetValueOrDefault(full, "the model returned no prediction for it"));
            }).ToList();
        }
        finally
        {
            foreach (string path in paths) TryDelete(path);
        }
    }

    /// <summary>Disposes the model's native sessions and the bank, and removes the upload folder.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        (_model as IDisposable)?.Dispose();
        _bank?.Dispose();
        try { Directory.Delete(_uploads, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static string Extension(byte[] bytes) =>
        bytes.Length >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8 ? ".jpg" : bytes.Length >= 4 && bytes[0] == (byte)'R' ? ".webp" : ".png";

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Per-request state of a scoring call: an MLContext of its own.</summary>
    private sealed class Scorer
    {
        public MLContext MLContext { get; } = new(1);
    }

    private sealed class ScorerPolicy : PooledObjectPolicy<Scorer>
    {
        public override Scorer Create() => new();

        public override bool Return(Scorer obj) => true;
    }
}
