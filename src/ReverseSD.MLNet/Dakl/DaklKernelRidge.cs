using System.Diagnostics;
using ReverseSD.MLNet.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace ReverseSD.MLNet.Dakl;

/// <summary>
/// The DAKL equations (paper §3, Eq. 5–7), vectorised with TorchSharp in float32 (or float64). Z = C ∪ X̄ (r centroids, p unlabelled
/// target-domain samples, m = r + p rows); K̂ = Ẑ Ẑᵀ for row-normalised Ẑ (Eq. 5–6); K_DA = exp(−γ(1 − K̂)) (Eq. 7); the rows of
/// K_DA are the second-order features, and dual ridge regression with the linear kernel on them is fitted on the centroid rows:
/// A = (M Mᵀ + αI)⁻¹ Y_C with M = K_DA[C, :] (r × m). A sample z is scored as ŷ = k_DA(z) W with
/// k_DA(z) = exp(−γ(1 − ẑ Ẑᵀ)) and W = Mᵀ A, then L2-normalised.
/// </summary>
/// <remarks>
/// With a small γ every entry of K_DA is close to 1, so M Mᵀ is a huge rank-one matrix plus the informative part, and a
/// float32 Cholesky of it would lose that part. The solve therefore uses the exact split M = 1 1ᵀ + D with
/// D = expm1(−γ(1 − K̂[C, :])): M Mᵀ + αI = (αI + D Dᵀ) + U S Uᵀ with U = [1, s], s = D 1, S = [[m, 1], [1, 0]], solved by
/// Cholesky of the well-conditioned αI + D Dᵀ and the Woodbury identity (a 2 × 2 system in float64). D is built in column
/// blocks of at most <c>memoryBudgetBytes</c>, so only r × r and r × block matrices live at once.
/// </remarks>
internal static class DaklKernelRidge
{
    public sealed record Timings(TimeSpan Kernel, TimeSpan Solve, TimeSpan Weights, bool UsedFloat64Solve);

    /// <summary>Fits the kernel ridge from centroids (r × d) and their targets (r × t), with p target-domain rows (may be null).</summary>
    public static DaklSolution Fit(EmbeddingMatrix centroids, EmbeddingMatrix centroidTargets, EmbeddingMatrix? targetDomain,
        float gamma, float alpha, long memoryBudgetBytes = 512L << 20, bool float64 = false)
    {
        var dtype = float64 ? ScalarType.Float64 : ScalarType.Float32;
        int r = centroids.Rows, d = centroids.Columns, t = centroidTargets.Columns;
        int p = targetDomain?.Rows ?? 0, m = r + p;
        if (centroidTargets.Rows != r) throw new ArgumentException("One target per centroid is needed.", nameof(centroidTargets));
        if (targetDomain != null && targetDomain.Columns != d)
            throw new ReverseSdInputException($"The target-domain embeddings have {targetDomain.Columns} values per row; the training embeddings have {d}.");
        int block = (int)Math.Clamp(memoryBudgetBytes / 4 / Math.Max(1, r), 1, m);

        using var outer = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var clock = Stopwatch.StartNew();
        var z = torch.tensor(centroids.Values, [r, d]);
        if (targetDomain != null) z = torch.cat([z, torch.tensor(targetDomain.Values, [p, d])], 0);
        z = z.to(dtype);
        var zHat = nn.functional.normalize(z, p: 2, dim: 1);
        var cHat = zHat.narrow(0, 0, r);
        var y = torch.tensor(centroidTargets.Values, [r, t]).to(dtype);

        Tensor DBlock(int start, int count) =>
            torch.special.expm1(cHat.mm(zHat.narrow(0, start, count).t()).sub_(1).mul_(gamma));

        // Kernel: P = D Dᵀ (r × r) and s = D 1, accumulated over column blocks of D.
        var pMatrix = torch.zeros(r, r, dtype);
        var s = torch.zeros(r, dtype);
        for (int start = 0; start < m; start += block)
        {
            using var scope = torch.NewDisposeScope();
            var dBlock = DBlock(start, Math.Min(block, m - start));
            pMatrix.addmm_(dBlock, dBlock.t());
            s.add_(dBlock.sum(1));
        }
        var kernelTime = clock.Elapsed;

        // Solve: A = (B + U S Uᵀ)⁻¹ Y with B = P + αI (Woodbury).
        clock.Restart();
        pMatrix.diagonal().add_(alpha);
        bool solvedInFloat64 = float64;
        var (l, info) = torch.linalg.cholesky_ex(pMatrix);
        Tensor a;
        var u = torch.stack([torch.ones(r, dtype), s], 1);          // r × 2
        if (info.item<int>() != 0 && !float64)
        {
            solvedInFloat64 = true;
            (l, info) = torch.linalg.cholesky_ex(pMatrix.to(ScalarType.Float64));
            if (info.item<int>() != 0)
                throw new ReverseSdInputException($"The DAKL ridge system is not positive definite even in float64; raise Alpha (now {alpha}).");
            a = Woodbury(l, u.to(ScalarType.Float64), y.to(ScalarType.Float64), m).to(dtype);
        }
        else
        {
            if (info.item<int>() != 0)
                throw new ReverseSdInputException($"The DAKL ridge system is not positive definite even in float64; raise Alpha (now {alpha}).");
            a = Woodbury(l, u, y, m);
        }
        pMatrix.Dispose();
        l.Dispose();
        var solveTime = clock.Elapsed;

        // Weights: W = Mᵀ A = 1 (1ᵀA) + Dᵀ A, by row blocks of W (column blocks of D).
        clock.Restart();
        var w = new float[(long)m * t];
        var columnSums = a.sum(0, keepdim: true);
        for (int start = 0; start < m; start += block)
        {
            using var scope = torch.NewDisposeScope();
            int count = Math.Min(block, m - start);
            var wBlock = DBlock(start, count).t().mm(a).add_(columnSums).to(ScalarType.Float32).contiguous();
            wBlock.data<float>().CopyTo(w.AsSpan(start * t, count * t));
        }
        var weightsTime = clock.Elapsed;

        var points = new float[(long)m * d];
        zHat.to(ScalarType.Float32).contiguous().data<float>().CopyTo(points);
        return new DaklSolution(points, w, m, d, t, gamma, new Timings(kernelTime, solveTime, weightsTime, solvedInFloat64));
    }

    private static Tensor Woodbury(Tensor l, Tensor u, Tensor y, int m)
    {
        var xY = torch.cholesky_solve(y, l);                         // B⁻¹ Y
        var xU = torch.cholesky_solve(u, l);                         // B⁻¹ U
        var inner = u.t().mm(xU).to(ScalarType.Float64);            // Uᵀ B⁻¹ U
        inner += torch.tensor(new double[] { 0, 1, 1, -m }, [2, 2]); // + S⁻¹
        var correction = torch.linalg.solve(inner, u.t().mm(xY).to(ScalarType.Float64)).to(y.dtype);
        return xY - xU.mm(correction);
    }
}

/// <summary>A fitted DAKL model: the normalised rows Ẑ of Z = C ∪ X̄ and the weights W; scores as normalise(exp(−γ(1 − ẑẐᵀ)) W).</summary>
internal sealed class DaklSolution(float[] normalisedPoints, float[] weights, int points, int inputSize, int outputSize, float gamma, DaklKernelRidge.Timings timings)
{
    public float[] NormalisedPoints { get; } = normalisedPoints;
    public float[] Weights { get; } = weights;
    public int Points { get; } = points;
    public int InputSize { get; } = inputSize;
    public int OutputSize { get; } = outputSize;
    public float Gamma { get; } = gamma;
    public DaklKernelRidge.Timings Timings { get; } = timings;

    /// <summary>Scores with TorchSharp (fit-time evaluation); the compiled ONNX graph computes the same.</summary>
    public float[] Predict(EmbeddingMatrix inputs, int batchSize = 2048)
    {
        if (inputs.Columns != InputSize)
            throw new ReverseSdInputException($"The DAKL input has {inputs.Columns} values per row; the model was fitted on {InputSize}.");
        var result = new float[(long)inputs.Rows * OutputSize];
        using var outer = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var zT = torch.tensor(NormalisedPoints, [Points, InputSize]).t();
        var w = torch.tensor(Weights, [Points, OutputSize]);
        for (int start = 0; start < inputs.Rows; start += batchSize)
        {
            using var scope = torch.NewDisposeScope();
            int rows = Math.Min(batchSize, inputs.Rows - start);
            var x = nn.functional.normalize(torch.tensor(inputs.Values.AsSpan(start * InputSize, rows * InputSize).ToArray(), [rows, InputSize]), p: 2, dim: 1);
            var features = x.mm(zT).sub_(1).mul_(Gamma).exp_();
            var y = nn.functional.normalize(features.mm(w), p: 2, dim: 1).contiguous();
            y.data<float>().CopyTo(result.AsSpan(start * OutputSize, rows * OutputSize));
        }
        return result;
    }

    /// <summary>normalise z → MatMul Ẑᵀ → ×γ − γ → Exp → MatMul W → L2-normalise.</summary>
    public byte[] Compile(string inputName, string outputName)
    {
        if ((long)Points * (InputSize + OutputSize) * sizeof(float) > 1_900_000_000L)
            throw new ReverseSdInputException(
                $"A DAKL model with {Points} centroid + target-domain rows exceeds the 2 GB limit of one ONNX file; use fewer centroids or target-domain samples.");
        var g = new OnnxGraphBuilder("dakl");
        g.Metadata("reversesd.stage", "dakl");
        g.Metadata("reversesd.format", "1");
        g.Metadata("reversesd.dakl.gamma", Gamma.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        string x = g.L2Normalize(g.Input(inputName, [-1, InputSize]));
        string zT = g.Initializer("points_t", EmbeddingMatrix.Transpose(NormalisedPoints, Points, InputSize), InputSize, Points);
        string similarity = g.Node("MatMul", [x, zT]);
        string features = g.Node("Exp", [g.Node("Add", [g.Node("Mul", [similarity, g.Scalar(Gamma)]), g.Scalar(-Gamma)])]);
        string y = g.Node("MatMul", [features, g.Initializer("weights", Weights, Points, OutputSize)]);
        g.Output(g.L2Normalize(y), outputName, [-1, OutputSize]);
        return g.ToBytes();
    }
}
