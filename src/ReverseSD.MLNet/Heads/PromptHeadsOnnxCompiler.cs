using ReverseSD.MLNet.Onnx;
using ReverseSD.MLNet.Onnx.Proto;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ReverseSD.MLNet.Heads;

/// <summary>Column names of a compiled heads graph.</summary>
internal sealed record HeadsGraphColumns(string Features, string Embedding, string Probabilities, string Words, string Info);

/// <summary>
/// Compiles a trained <see cref="PromptHeadsNetwork"/> (eval mode) into an ONNX graph: linear layers as Gemm with the
/// weights as initializers, GELU through Erf, BatchNorm with its running statistics folded into a Mul and an Add,
/// dropout dropped, a learned spatial pooling as Reshape, ReduceMean, Transpose and MatMul; outputs the L2-normalised "PredictedEmbedding", the sigmoid "VocabularyProbabilities",
/// the constants "VocabularyWords" and "VocabularyFrequencies" (each word's training frequency) and the "ModelInfo" format version.
/// </summary>
internal static class PromptHeadsOnnxCompiler
{
    public static byte[] Compile(PromptHeadsNetwork network, IReadOnlyList<string> vocabularyWords, HeadsGraphColumns columns,
        string formatVersion = ReverseSdModelFormat.Version, IReadOnlyList<float>? vocabularyFrequencies = null)
    {
        if (vocabularyFrequencies != null && vocabularyFrequencies.Count != vocabularyWords.Count)
            throw new ArgumentException($"{vocabularyFrequencies.Count} vocabulary frequencies for {vocabularyWords.Count} words.");
        if (network.VocabularySize != 0 && vocabularyWords.Count != network.VocabularySize)
            throw new ArgumentException($"{vocabularyWords.Count} vocabulary words for a vocabulary head of {network.VocabularySize} outputs.");
        var g = new OnnxGraphBuilder("reversesd_prompt_heads");
        string x = g.Input(columns.Features, [-1, network.FeatureSize]);
        if (network.SpatialPooling is { } spatial)
            x = SpatialPooling(g, spatial, x);
        string embedding;
        string? logits = null;
        switch (network.Configuration)
        {
            case HeadConfiguration.Vanilla:
                embedding = Head(g, network.EmbeddingHead, x, "embedding");
                break;
            case HeadConfiguration.Independent:
                logits = Linear(g, network.VocabularyHead!, x, "vocabulary");
                embedding = Head(g, network.EmbeddingHead, x, "embedding");
                break;
            case HeadConfiguration.VocabularyFeedsEmbedding:
                logits = Linear(g, network.VocabularyHead!, x, "vocabulary");
                embedding = Head(g, network.EmbeddingHead, g.Node("Concat", [x, logits], null, OnnxGraphBuilder.Attr("axis", 1L)), "embedding");
                break;
            case HeadConfiguration.EmbeddingFeedsVocabulary:
                embedding = Head(g, network.EmbeddingHead, x, "embedding");
                logits = Linear(g, network.VocabularyHead!, embedding, "vocabulary");
                break;
            default:
                throw new InvalidOperationException($"Unknown head configuration {network.Configuration}.");
        }
        g.Output(g.L2Normalize(embedding), columns.Embedding, [-1, network.EmbeddingSize]);
        if (logits != null)
        {
            g.Output(g.Node("Sigmoid", [logits]), columns.Probabilities, [-1, network.VocabularySize]);
            string words = g.Initializer("vocabulary.words", vocabularyWords, 1, vocabularyWords.Count);
            g.Output(words, columns.Words, [1, vocabularyWords.Count], TensorProto.Types.DataType.String);
            if (vocabularyFrequencies != null)
            {
                string frequencies = g.Initializer("vocabulary.frequencies", vocabularyFrequencies.ToArray(), 1, vocabularyFrequencies.Count);
                g.Output(frequencies, ReverseSdModelFormat.VocabularyFrequenciesColumnName, [1, vocabularyFrequencies.Count]);
            }
        }
        string info = g.Initializer("model.info", [formatVersion], 1);
        g.Output(info, columns.Info, [1], TensorProto.Types.DataType.String);
        g.Metadata("reversesd.format", formatVersion);
        g.Metadata("reversesd.head_configuration", network.Configuration.ToString());
        if (network.SpatialPooling is { } pooling)
            g.Metadata("reversesd.spatial_pooling", $"map {pooling.MapChannels}x{pooling.Positions}, {pooling.Channels} channels per position");
        return g.ToBytes();
    }

    /// <summary>
    /// <see cref="LearnedSpatialPooling"/>: x [N, K·P] → map [N, K, P] → [ReduceMean over P (K), (mapᵀ·W + b) flattened (P·C)].
    /// </summary>
    private static string SpatialPooling(OnnxGraphBuilder g, LearnedSpatialPooling spatial, string x)
    {
        int k = spatial.MapChannels, p = spatial.Positions, c = spatial.Channels;
        string map = g.Node("Reshape", [x, g.Initializer("spatial.map_shape", new long[] { -1, k, p }, 3)]);
        string pooled = g.Node("ReduceMean", [map], null, OnnxGraphBuilder.Attr("axes", [2L]), OnnxGraphBuilder.Attr("keepdims", 0L));
        string positions = g.Node("Transpose", [map], null, OnnxGraphBuilder.Attr("perm", [0L, 2L, 1L]));
        float[] weight, bias;
        using (var scope = torch.NewDisposeScope())
        using (var noGrad = torch.no_grad())
        {
            // torch stores W as [C, K]; MatMul wants [K, C].
            weight = spatial.Projection.weight!.detach().cpu().t().contiguous().data<float>().ToArray();
            bias = spatial.Projection.bias is null ? new float[c] : spatial.Projection.bias.detach().cpu().data<float>().ToArray();
        }
        string projected = g.Node("Add", [g.Node("MatMul", [positions, g.Initializer("spatial.projection.weight", weight, k, c)]),
            g.Initializer("spatial.projection.bias", bias, c)]);
        string flat = g.Node("Reshape", [projected, g.Initializer("spatial.flat_shape", new long[] { -1, (long)p * c }, 2)]);
        return g.Node("Concat", [pooled, flat], null, OnnxGraphBuilder.Attr("axis", 1L));
    }

    private static string Head(OnnxGraphBuilder g, DenseHead head, string x, string prefix)
    {
        int layer = 0;
        foreach (var (linear, norm) in head.HiddenLayers)
        {
            string name = $"{prefix}.hidden{layer++}";
            x = Gelu(g, Linear(g, linear, x, name));
            x = BatchNormEval(g, norm, x, name + ".norm");
        }
        return Linear(g, head.OutputLayer, x, prefix + ".output");
    }

    private static string Linear(OnnxGraphBuilder g, Linear linear, string x, string prefix)
    {
        int inputs = (int)linear.in_features, outputs = (int)linear.out_features;
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        // torch stores W as [out, in]; the builder's Gemm wants [in, out] row-major.
        float[] weight = linear.weight!.detach().cpu().t().contiguous().data<float>().ToArray();
        float[] bias = linear.bias is null ? new float[outputs] : linear.bias.detach().cpu().data<float>().ToArray();
        return g.Dense(x, weight, bias, inputs, outputs, prefix);
    }

    /// <summary>Exact GELU: 0.5·x·(1 + erf(x/√2)), as torch.nn.GELU() computes it.</summary>
    private static string Gelu(OnnxGraphBuilder g, string x)
    {
        string erf = g.Node("Erf", [g.Node("Mul", [x, g.Scalar((float)(1 / Math.Sqrt(2)))])]);
        string onePlus = g.Node("Add", [erf, g.Scalar(1f)]);
        return g.Node("Mul", [g.Node("Mul", [x, g.Scalar(0.5f)]), onePlus]);
    }

    /// <summary>BatchNorm in eval mode, y = x·a + c with a = γ/√(var+eps), c = β − mean·a (computed in double precision).</summary>
    private static string BatchNormEval(OnnxGraphBuilder g, BatchNorm1d norm, string x, string prefix)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        float[] mean = norm.running_mean!.cpu().data<float>().ToArray();
        float[] variance = norm.running_var!.cpu().data<float>().ToArray();
        float[]? gamma = norm.weight?.detach().cpu().data<float>().ToArray();
        float[]? beta = norm.bias?.detach().cpu().data<float>().ToArray();
        var scale = new float[mean.Length];
        var shift = new float[mean.Length];
        for (int i = 0; i < mean.Length; i++)
        {
            double a = (gamma?[i] ?? 1.0) / Math.Sqrt(variance[i] + norm.eps);
            scale[i] = (float)a;
            shift[i] = (float)((beta?[i] ?? 0.0) - mean[i] * a);
        }
        string scaled = g.Node("Mul", [x, g.Initializer(prefix + ".scale", scale, 1, scale.Length)]);
        return g.Node("Add", [scaled, g.Initializer(prefix + ".shift", shift, 1, shift.Length)]);
    }
}
