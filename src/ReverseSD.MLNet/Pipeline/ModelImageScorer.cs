using System.Globalization;
using System.IO.Compression;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using ReverseSD.MLNet.Backbones;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>
/// Scores image files through a loaded or trained model chunk by chunk with the fast featurisation path
/// (<see cref="BatchedImageFeaturizer"/>) in place of each backbone stage, and ML.NET for the stages after it; the
/// saved chain itself is unchanged. A model whose backbone cannot be read back (saved before the backbone graph
/// carried its preprocessing) is scored through its ML.NET chain, with the same results.
/// </summary>
internal sealed partial class ModelImageScorer : IDisposable
{
    private const string FeaturesColumn = ColumnNames.ImageFeatures;

    private static readonly ConditionalWeakTable<ITransformer, string> LoadedFrom = [];
    private static readonly ConditionalWeakTable<ITransformer, ModelImageScorer> Scorers = [];

    private readonly MLContext _ml;
    private readonly ITransformer _model;
    private readonly List<Group>? _groups;

    private ModelImageScorer(MLContext ml, ITransformer model, List<Group>? groups)
    {
        _ml = ml;
        _model = model;
        _groups = groups;
    }

    /// <summary>True when the fast path scores this model (else its ML.NET chain does).</summary>
    public bool UsesFastPath => _groups != null;

    /// <summary>Remembers the zip a model was loaded from, where its backbone graphs are read back.</summary>
    internal static void RememberSource(ITransformer model, string zipPath) => LoadedFrom.AddOrUpdate(model, Path.GetFullPath(zipPath));

    /// <summary>
    /// The scorer of <paramref name="model"/>, made once and kept while the model lives, so a caller scoring a few
    /// images at a time (a server) does not build ONNX Runtime sessions on every call; safe to use from several threads.
    /// </summary>
    public static ModelImageScorer For(MLContext ml, ITransformer model) => Scorers.GetValue(model, m => Create(ml, m));

    /// <summary>A scorer for <paramref name="model"/>: fast when every backbone stage is known, else the ML.NET chain.</summary>
    public static ModelImageScorer Create(MLContext ml, ITransformer model, int batchSize = BatchedImageFeaturizer.DefaultBatchSize)
    {
        var stages = model is TransformerChain<ITransformer> chain ? chain.ToList() : [model];
        LoadedFrom.TryGetValue(model, out string? zip);
        var groups = new List<Group>();
        try
        {
            for (int i = 0; i < stages.Count; i++)
            {
                var backbone = BackboneOf(stages[i], i, zip, batchSize);
                if (backbone != null) groups.Add(new Group(Task.FromResult(backbone.Value.Featurizer), backbone.Value.Key, []));
                else if (groups.Count == 0) return Fallback();
                else groups[^1].Stages.Add(stages[i]);
            }
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            return Fallback();
        }
        return groups.Count == 0 ? Fallback() : new ModelImageScorer(ml, model, groups);

        ModelImageScorer Fallback()
        {
            foreach (var g in groups) g.Featurizer.Dispose();
            return new ModelImageScorer(ml, model, null);
        }
    }

    /// <summary>
    /// Loads a model zip to score image files, reading each backbone graph once: the fast path's sessions are made from the
    /// zip's backbone graphs, and ML.NET loads the chain from a copy of the zip (in memory) holding a placeholder graph with
    /// the same input and output in place of each backbone's, because the chain's backbone stages never run when the fast
    /// path scores. A backbone graph (tens of MB) is then neither written to a temporary file nor optimised a second time.
    /// The model is registered with its scorer (<see cref="For"/>) and must be scored through it only, never with
    /// Transform on image paths. Null when the zip's backbones cannot be read back: load it as usual then.
    /// </summary>
    internal static ITransformer? LoadForScoring(MLContext ml, string zipPath, int batchSize = BatchedImageFeaturizer.DefaultBatchSize)
    {
        List<(int Stage, string Entry)> candidates;
        try
        {
            using var archive = ZipFile.OpenRead(zipPath);
            candidates = archive.Entries.Select(e => (Entry: e.FullName, Match: NestedOnnxModel().Match(e.FullName))).Where(x => x.Match.Success)
                .Select(x => (int.Parse(x.Match.Groups[1].Value, CultureInfo.InvariantCulture), x.Entry)).ToList();
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            return null;   // not a zip, or unreadable: loading it as usual says so
        }
        if (candidates.Count == 0 || candidates.DistinctBy(c => c.Stage).Count() != candidates.Count) return null;

        // Each backbone graph is read, and its session made, on a worker thread while this one copies the zip's other
        // entries and ML.NET loads the chain: the two halves of the start-up overlap on two cores.
        var graphs = candidates.Select(c => Task.Run(() => SavedBackboneGraph.Read(zipPath, c.Entry, FeaturesColumn))).ToList();
        // The sessions are waited for when the first image is scored: checking the model's version overlaps with them too.
        var sessions = graphs.Select(g => g.ContinueWith(t =>
        {
            if (t.GetAwaiter().GetResult() is not { } graph) return null;
            using var _ = PhaseTimes.Measure("fast path: create the ONNX Runtime session (a worker thread)");
            return BatchedImageFeaturizer.FromComposed(graph.Composed, batchSize);
        }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default)).ToList();
        ITransformer? model = null;
        try
        {
            using var copy = new MemoryStream();
            using (PhaseTimes.Measure("copy the zip's other entries"))
            using (var archive = ZipFile.OpenRead(zipPath))
            using (var placeholders = new ZipArchive(copy, ZipArchiveMode.Create, leaveOpen: true))
            {
                var backboneEntries = candidates.Select(c => c.Entry).ToHashSet(StringComparer.Ordinal);
                foreach (var entry in archive.Entries.Where(e => !backboneEntries.Contains(e.FullName)))
                    CopyEntry(entry, placeholders);
                for (int i = 0; i < candidates.Count; i++)
                {
                    var graph = graphs[i].GetAwaiter().GetResult();
                    if (graph == null)
                    {
                        CopyEntry(archive.GetEntry(candidates[i].Entry)!, placeholders);   // an ONNX stage that is not a backbone
                        continue;
                    }
                    using var target = placeholders.CreateEntry(candidates[i].Entry, CompressionLevel.NoCompression).Open();
                    using var writer = new BinaryWriter(target, System.Text.Encoding.UTF8, leaveOpen: true);
                    writer.Write(graph.Placeholder.Length);
                    writer.Write(graph.Placeholder);
                }
            }
            copy.Position = 0;
            using (PhaseTimes.Measure("load the chain after the backbones (ML.NET)"))
                model = ml.Model.Load(copy, out _);
            var stages = model is TransformerChain<ITransformer> chain ? chain.ToList() : [model];
            var featurizers = new Dictionary<int, (Task<BatchedImageFeaturizer> Featurizer, CachedBackbone? Key)>();
            for (int i = 0; i < candidates.Count; i++)
                if (graphs[i].GetAwaiter().GetResult() is { } graph) featurizers[candidates[i].Stage] = (sessions[i].ContinueWith(t => t.GetAwaiter().GetResult()!, TaskScheduler.Default), CachedBackbone.Of(graph.Composed));
            var groups = new List<Group>();
            for (int i = 0; i < stages.Count; i++)
            {
                if (featurizers.TryGetValue(i, out var backbone) && stages[i] is TransformerChain<ITransformer> inner && inner.FirstOrDefault() is ImageLoadingTransformer)
                    groups.Add(new Group(backbone.Featurizer, backbone.Key, []));
                else if (featurizers.ContainsKey(i) || groups.Count == 0)
                    return Fail();
                else
                    groups[^1].Stages.Add(stages[i]);
            }
            if (groups.Count == 0 || groups.Count != featurizers.Count) return Fail();
            RememberSource(model, zipPath);
            Scorers.AddOrUpdate(model, new ModelImageScorer(ml, model, groups));
            return model;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return Fail();   // loading it as usual reports what is wrong with the zip
        }

        ITransformer? Fail()
        {
            foreach (var session in sessions)
            {
                try
                {
                    session.GetAwaiter().GetResult()?.Dispose();
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                }
            }
            (model as IDisposable)?.Dispose();
            return null;
        }
    }

    /// <summary>The backbone graphs a model zip holds, in stage order (none when they cannot be read back), e.g. to count their arithmetic.</summary>
    internal static IReadOnlyList<ComposedBackbone> ReadBackbones(string zipPath)
    {
        List<string> entries;
        using (var archive = ZipFile.OpenRead(zipPath))
            entries = archive.Entries.Where(e => NestedOnnxModel().IsMatch(e.FullName)).Select(e => e.FullName).Order(StringComparer.Ordinal).ToList();
        return entries.Select(e => SavedBackboneGraph.Read(zipPath, e, FeaturesColumn)?.Composed).OfType<ComposedBackbone>().ToList();
    }

    private static void CopyEntry(ZipArchiveEntry entry, ZipArchive target)
    {
        using var source = entry.Open();
        using var destination = target.CreateEntry(entry.FullName, CompressionLevel.NoCompression).Open();
        source.CopyTo(destination);
    }

    /// <summary>ML.NET's entry of an OnnxTransformer inside top-level stage N (a nested chain): where a backbone graph is saved.</summary>
    [GeneratedRegex(@"^TransformerChain/Transform_(\d{3})/Transform_\d{3}/OnnxModel$", RegexOptions.CultureInvariant)]
    private static partial Regex NestedOnnxModel();

    /// <summary>
    /// The fast featuriser and feature-cache key of a backbone stage (the key null when the saved graph has no fingerprint),
    /// or null when <paramref name="stage"/> is not one (or cannot be read back).
    /// </summary>
    private static (BatchedImageFeaturizer Featurizer, CachedBackbone? Key)? BackboneOf(ITransformer stage, int index, string? zip, int batchSize)
    {
        if (stage is ImageBackboneTransformer trained)
            return trained.OutputColumnName == FeaturesColumn
                ? (BatchedImageFeaturizer.Create(trained.Backbone, batchSize), CachedBackbone.Of(trained.Backbone))
                : null;
        if (zip == null || stage is not TransformerChain<ITransformer> inner || inner.FirstOrDefault() is not ImageLoadingTransformer)
            return null;
        // ML.NET saves a top-level stage i under TransformerChain/Transform_{i:000}/, an OnnxTransformer's graph as "OnnxModel".
        string prefix = $"TransformerChain/Transform_{index:000}/";
        using var archive = ZipFile.OpenRead(zip);
        foreach (var entry in archive.Entries.Where(e => e.FullName.StartsWith(prefix, StringComparison.Ordinal) && e.Name == "OnnxModel"))
        {
            ComposedBackbone? composed;
            using (PhaseTimes.Measure("fast path: read the backbone graph from the zip"))
            using (var stream = entry.Open())
                composed = SavedBackboneGraph.Describe(stream, entry.Length);
            if (composed != null && composed.OutputName == FeaturesColumn)
            {
                using var _ = PhaseTimes.Measure("fast path: create the ONNX Runtime session");
                return (BatchedImageFeaturizer.FromComposed(composed, batchSize), CachedBackbone.Of(composed));
            }
        }
        return null;
    }

    /// <summary>
    /// Scores <paramref name="imagePaths"/> and returns, chunk by chunk and in input order, each image's scored row
    /// (<paramref name="read"/> of the chunk's output view) or why it was skipped.
    /// </summary>
    public IEnumerable<(string Path, T? Result, string? Problem)> Score<T>(IReadOnlyList<string> imagePaths, int chunkSize,
        Func<IDataView, IReadOnlyList<T>> read, CancellationToken cancellationToken) where T : class
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        if (_groups == null) return ScoreWithChain(imagePaths, chunkSize, read, cancellationToken);
        List<IEnumerable<FeaturizedImage>> features;
        using (PhaseTimes.Measure("fast path: wait for the ONNX Runtime session"))
            features = _groups.Select(g => g.Featurizer.Featurize(imagePaths, cancellationToken)).ToList();
        return ScoreFast(imagePaths, features, chunkSize, read, cancellationToken);
    }

    /// <summary>
    /// The feature-cache keys of the model's backbones in chain order (what <see cref="ScoreFeatures"/> takes features of);
    /// null when the model is scored through its ML.NET chain or a backbone was saved without its fingerprint.
    /// </summary>
    public IReadOnlyList<CachedBackbone>? CacheKeys =>
        _groups != null && _groups.All(g => g.Key != null) ? _groups.Select(g => g.Key!).ToList() : null;

    /// <summary>
    /// As <see cref="Score"/>, with each backbone's features given (one list per <see cref="CacheKeys"/> entry, aligned with
    /// <paramref name="imagePaths"/>; an entry with a problem is skipped) instead of computed: scores from a feature cache.
    /// </summary>
    public IEnumerable<(string Path, T? Result, string? Problem)> ScoreFeatures<T>(IReadOnlyList<string> imagePaths,
        IReadOnlyList<IReadOnlyList<FeaturizedImage>> features, int chunkSize, Func<IDataView, IReadOnlyList<T>> read,
        CancellationToken cancellationToken) where T : class
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        if (CacheKeys == null) throw new InvalidOperationException("This model has no cache keys.");
        if (features.Count != _groups!.Count || features.Any(f => f.Count != imagePaths.Count))
            throw new ArgumentException($"Expected {_groups.Count} feature lists of {imagePaths.Count} rows.", nameof(features));
        return ScoreFast(imagePaths, features, chunkSize, read, cancellationToken);
    }

    private IEnumerable<(string, T?, string?)> ScoreFast<T>(IReadOnlyList<string> paths, IReadOnlyList<IEnumerable<FeaturizedImage>> perBackbone,
        int chunkSize, Func<IDataView, IReadOnlyList<T>> read, CancellationToken cancellationToken) where T : class
    {
        var streams = perBackbone.Select(f => f.GetEnumerator()).ToList();
        try
        {
            for (int start = 0; start < paths.Count; start += chunkSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int n = Math.Min(chunkSize, paths.Count - start);
                var features = new FeaturizedImage[_groups!.Count][];
                using (PhaseTimes.Measure("featurise (waiting for the backbone)"))
                {
                    for (int g = 0; g < features.Length; g++)
                    {
                        features[g] = new FeaturizedImage[n];
                        for (int i = 0; i < n; i++)
                            features[g][i] = streams[g].MoveNext() ? streams[g].Current : throw new InvalidOperationException("The featuriser returned fewer rows than paths.");
                    }
                }
                var problems = Enumerable.Range(0, n).Select(i => features.Select(f => f[i].Problem).FirstOrDefault(p => p != null)).ToArray();
                var good = Enumerable.Range(0, n).Where(i => problems[i] == null).ToArray();
                IReadOnlyList<T> scored;
                using (PhaseTimes.Measure("stages after the backbone (ML.NET) and reading them"))
                    scored = good.Length == 0 ? [] : read(Apply(features, good));
                int k = 0;
                for (int i = 0; i < n; i++)
                    yield return problems[i] == null ? (paths[start + i], scored[k++], null) : (paths[start + i], null, problems[i]);
            }
        }
        finally
        {
            foreach (var s in streams) s.Dispose();
        }
    }

    /// <summary>Runs each group's stages on its backbone's features, carrying the float vector columns a group adds to the next.</summary>
    private IDataView Apply(FeaturizedImage[][] features, int[] good)
    {
        var carried = new List<(string Name, int Size, float[][] Rows)>();
        IDataView output = null!;
        for (int g = 0; g < _groups!.Count; g++)
        {
            var rows = good.Select(i => features[g][i].Features!).ToArray();
            var columns = carried.Where(c => c.Name != FeaturesColumn).Append((Name: FeaturesColumn, Size: rows[0].Length, Rows: rows)).ToArray();
            IDataView view = new VectorTableDataView(columns);
            foreach (var stage in _groups[g].Stages) view = stage.Transform(view);
            output = view;
            if (g == _groups.Count - 1) break;
            var known = columns.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var column in view.Schema.Where(c => !c.IsHidden && !known.Contains(c.Name)))
                if (column.Type is VectorDataViewType { ItemType: NumberDataViewType, Size: > 0 } vector && vector.ItemType == NumberDataViewType.Single)
                {
                    carried.RemoveAll(c => c.Name == column.Name);
                    carried.Add((column.Name, vector.Size, Evaluation.PromptEmbeddingEvaluator.ReadVectors(view, column.Name)));
                }
        }
        return output;
    }

    private IEnumerable<(string, T?, string?)> ScoreWithChain<T>(IReadOnlyList<string> paths, int chunkSize,
        Func<IDataView, IReadOnlyList<T>> read, CancellationToken cancellationToken) where T : class
    {
        for (int start = 0; start < paths.Count; start += chunkSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var chunk = paths.Skip(start).Take(chunkSize).ToList();
            var problems = chunk.Select(ImageValidation.FindProblem).ToList();
            var good = chunk.Where((_, i) => problems[i] == null).Select(p => new ImagePathRow { ImagePath = p }).ToList();
            IReadOnlyList<T> scored = good.Count == 0 ? [] : read(_model.Transform(_ml.Data.LoadFromEnumerable(good)));
            int k = 0;
            for (int i = 0; i < chunk.Count; i++)
                yield return problems[i] == null ? (chunk[i], scored[k++], null) : (chunk[i], null, problems[i]);
        }
    }

    private sealed class ImagePathRow
    {
        public string ImagePath { get; set; } = "";
    }

    /// <summary>A backbone (its fast featuriser, made on a worker thread when loaded for scoring) and the stages after it.</summary>
    private sealed record Group(Task<BatchedImageFeaturizer> Session, CachedBackbone? Key, List<ITransformer> Stages)
    {
        /// <summary>The featuriser, once its session is made.</summary>
        public BatchedImageFeaturizer Featurizer => Session.GetAwaiter().GetResult();
    }

    /// <summary>Releases the fast featurisers' sessions (not the model's).</summary>
    public void Dispose()
    {
        foreach (var g in _groups ?? [])
        {
            try
            {
                g.Featurizer.Dispose();
            }
            catch (Exception) when (g.Session.IsFaulted)
            {
                // the session was never made: its error went to whoever scored first
            }
        }
    }
}
