using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using TorchSharp;
using static TorchSharp.torch;

namespace ReverseSD.MLNet.Dakl;

/// <summary>Which k-means implementation finds the DAKL centroids (persisted values are explicit).</summary>
public enum KMeansEngine
{
    /// <summary>ML.NET's KMeans trainer (single-threaded here; slow at r = 10,000).</summary>
    MLNet = 0,

    /// <summary>Lloyd's algorithm on TorchSharp matrix products (BLAS speed: one product per row block, no other pass over the distances).</summary>
    TorchSharp = 1,
}

/// <summary>k-means initialisation.</summary>
public enum KMeansInitialization
{
    /// <summary>r distinct training samples drawn at random.</summary>
    Random = 0,

    /// <summary>k-means++ seeding (sequential, slow for large r).</summary>
    KMeansPlusPlus = 1,
}

/// <summary>k-means for the DAKL centroids (paper §3: the training set is replaced by r centroids) and their targets.</summary>
internal static class CentroidClustering
{
    public sealed record Settings(int Centroids, KMeansEngine Engine, KMeansInitialization Initialization, int MaximumIterations, float Tolerance, int Seed, long MemoryBudgetBytes);

    /// <summary>Runs k-means on the rows of <paramref name="x"/> and returns r × d centroids.</summary>
    public static EmbeddingMatrix Run(EmbeddingMatrix x, Settings settings, IProgress<ProgressReport>? progress = null, CancellationToken cancellation = default)
        => Run(x, settings, out _, progress, cancellation);

    /// <summary>Runs k-means; <paramref name="iterations"/> is the number of Lloyd iterations run (-1 for ML.NET, which does not tell).</summary>
    public static EmbeddingMatrix Run(EmbeddingMatrix x, Settings settings, out int iterations, IProgress<ProgressReport>? progress = null, CancellationToken cancellation = default)
    {
        if (settings.Engine == KMeansEngine.MLNet)
        {
            iterations = -1;
            return RunMLNet(x, settings);
        }
        return RunTorch(x, settings, out iterations, progress, cancellation);
    }

    private sealed class Row
    {
        public float[] Features { get; set; } = [];
    }

    private static EmbeddingMatrix RunMLNet(EmbeddingMatrix x, Settings settings)
    {
        var ml = new MLContext(settings.Seed);
        var definition = SchemaDefinition.Create(typeof(Row));
        definition[nameof(Row.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, x.Columns);
        var rows = Enumerable.Range(0, x.Rows).Select(i => new Row { Features = x.Row(i).ToArray() });
        var data = ml.Data.LoadFromEnumerable(rows, definition);
        var trainer = ml.Clustering.Trainers.KMeans(new KMeansTrainer.Options
        {
            FeatureColumnName = nameof(Row.Features),
            NumberOfClusters = settings.Centroids,
            InitializationAlgorithm = settings.Initialization == KMeansInitialization.Random
                ? KMeansTrainer.InitializationAlgorithm.Random
                : KMeansTrainer.InitializationAlgorithm.KMeansPlusPlus,
            MaximumNumberOfIterations = settings.MaximumIterations,
            OptimizationTolerance = Math.Max(settings.Tolerance, 1e-7f),   // ML.NET requires a positive tolerance
            NumberOfThreads = 1,
        });
        var model = trainer.Fit(data);
        VBuffer<float>[] centroids = default!;
        model.Model.GetClusterCentroids(ref centroids, out int k);
        var values = new float[(long)k * x.Columns];
        for (int i = 0; i < k; i++) centroids[i].CopyTo(values.AsSpan(i * x.Columns, x.Columns));
        return new EmbeddingMatrix(values, k, x.Columns);
    }

    private static EmbeddingMatrix RunTorch(EmbeddingMatrix x, Settings settings, out int iterations, IProgress<ProgressReport>? progress, CancellationToken cancellation)
    {
        iterations = 0;
        int n = x.Rows, d = x.Columns, r = settings.Centroids;
        using var outer = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var generator = new torch.Generator((ulong)settings.Seed);
        var data = torch.tensor(x.Values, [n, d]);
        Tensor centroids;
        if (settings.Initialization == KMeansInitialization.Random)
        {
            centroids = data.index_select(0, torch.randperm(n, generator: generator).narrow(0, 0, r)).clone();
        }
        else
        {
            var chosen = new long[r];
            chosen[0] = torch.randint(n, [1], generator: generator).item<long>();
            var nearest = (data - data[chosen[0]]).square().sum(1);
            for (int i = 1; i < r; i++)
            {
                cancellation.ThrowIfCancellationRequested();
                using var scope = torch.NewDisposeScope();
                var total = nearest.sum().item<float>();
                chosen[i] = total > 0
                    ? torch.multinomial(nearest / total, 1, generator: generator).item<long>()
                    : torch.randint(n, [1], generator: generator).item<long>();
                nearest.copy_(torch.minimum(nearest, (data - data[chosen[i]]).square().sum(1)));
                if (i % 500 == 0) progress?.Report(new ProgressReport("DAKL k-means++ seeding", i, r));
            }
            centroids = data.index_select(0, torch.tensor(chosen)).clone();
        }

        // Lloyd iterations on one matrix product per row block: with rows [x, 1] and centroids [c, -|c|²/2],
        // x·c - |c|²/2 = (|x|² - |x - c|²) / 2, so a row's nearest centroid is the argmax of its row of the product.
        // The product is written into one buffer of at most the memory budget, reused by every block and iteration.
        int block = (int)Math.Clamp(settings.MemoryBudgetBytes / 4 / Math.Max(1, r), 1, n);
        var rows = torch.cat([data, torch.ones(n, 1)], 1);
        var augmentedCentroids = torch.empty(r, d + 1);
        var scores = torch.empty(block, r);
        var labels = torch.empty(n, ScalarType.Int64);
        var sums = torch.empty(r, d);
        var counts = torch.empty(r);
        var ones = torch.ones(n);
        for (int iteration = 1; iteration <= settings.MaximumIterations; iteration++)
        {
            cancellation.ThrowIfCancellationRequested();
            iterations = iteration;
            using var scope = torch.NewDisposeScope();
            augmentedCentroids.narrow(1, 0, d).copy_(centroids);
            augmentedCentroids.narrow(1, d, 1).copy_(centroids.square().sum(1, keepdim: true).mul_(-0.5f));
            var transposed = augmentedCentroids.t();
            for (int start = 0; start < n; start += block)
            {
                using var blockScope = torch.NewDisposeScope();
                int count = Math.Min(block, n - start);
                var product = count == block ? scores : scores.narrow(0, 0, count);
                product.addmm_(rows.narrow(0, start, count), transposed, beta: 0);
                labels.narrow(0, start, count).copy_(product.argmax(1));
            }
            sums.zero_().index_add_(0, labels, data, 1);
            counts.zero_().index_add_(0, labels, ones, 1);
            var filled = counts > 0;
            var updated = torch.where(filled.unsqueeze(1), sums / counts.clamp_min(1).unsqueeze(1), centroids);
            float shift = (updated - centroids).square().sum(1).max().item<float>();
            centroids.copy_(updated);
            progress?.Report(new ProgressReport("DAKL k-means", iteration, settings.MaximumIterations, $"max squared centroid shift {shift:G3}"));
            if (shift <= settings.Tolerance) break;
        }
        var values = new float[(long)r * d];
        centroids.contiguous().data<float>().CopyTo(values);
        return new EmbeddingMatrix(values, r, d);
    }

    /// <summary>Nearest centroid of each row, and nearest row of each centroid, by Euclidean distance, in row blocks.</summary>
    private static (Tensor labels, Tensor nearestRow) Assign(Tensor data, Tensor squaredNorms, Tensor centroids, int block)
    {
        int n = (int)data.shape[0], r = (int)centroids.shape[0];
        var labels = torch.empty(n, ScalarType.Int64);
        var bestDistance = torch.full(r, float.PositiveInfinity);
        var bestRow = torch.zeros(r, ScalarType.Int64);
        var centroidNorms = centroids.square().sum(1);
        for (int start = 0; start < n; start += block)
        {
            using var scope = torch.NewDisposeScope();
            int count = Math.Min(block, n - start);
            var distances = squaredNorms.narrow(0, start, count).unsqueeze(1) - 2 * data.narrow(0, start, count).mm(centroids.t()) + centroidNorms.unsqueeze(0);
            labels.narrow(0, start, count).copy_(distances.argmin(1));
            var (blockMin, blockArg) = distances.min(0);
            var better = blockMin < bestDistance;
            bestDistance.copy_(torch.where(better, blockMin, bestDistance));
            bestRow.copy_(torch.where(better, blockArg + start, bestRow));
        }
        return (labels, bestRow);
    }

    /// <summary>
    /// The target of each centroid: the target of the training sample nearest to it (official code), or the L2-normalised mean
    /// target of its members (a centroid without members falls back to its nearest sample).
    /// </summary>
    public static EmbeddingMatrix Targets(EmbeddingMatrix x, EmbeddingMatrix y, EmbeddingMatrix centroids, CentroidTarget rule, long memoryBudgetBytes)
    {
        int n = x.Rows, r = centroids.Rows, t = y.Columns;
        using var outer = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var data = torch.tensor(x.Values, [n, x.Columns]);
        var targets = torch.tensor(y.Values, [n, t]);
        var c = torch.tensor(centroids.Values, [r, centroids.Columns]);
        int block = (int)Math.Clamp(memoryBudgetBytes / 4 / Math.Max(1, r), 1, n);
        var (labels, nearestRow) = Assign(data, data.square().sum(1), c, block);
        var result = targets.index_select(0, nearestRow);
        if (rule == CentroidTarget.MemberMean)
        {
            var sums = torch.zeros(r, t).index_add_(0, labels, targets, 1);
            var counts = torch.zeros(r).index_add_(0, labels, torch.ones(n), 1);
            var means = nn.functional.normalize(sums, p: 2, dim: 1);
            result = torch.where((counts > 0).unsqueeze(1), means, result);
        }
        var values = new float[(long)r * t];
        result.contiguous().data<float>().CopyTo(values);
        return new EmbeddingMatrix(values, r, t);
    }
}
