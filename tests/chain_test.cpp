#include <gtest/gtest.h>

#include "gradrecomp/chain.h"
#include "gradrecomp/error.h"
#include "gradrecomp/generators.h"
#include "support/graphs.h"

namespace gradrecomp {
namespace {

// The spec example: F1 -> a1 -> F2 -> {a2, s2}; B2 reads a2, s2; B1 reads x and g1.
// Stage 1: activation a1 (read by F2); stage 2 (the last) keeps a2 and s2 as saved.
TEST(RecognizeChain, SpecExample) {
  Graph g = testing::spec_example_graph();
  std::string why;
  auto chain = recognize_chain(g, &why);
  ASSERT_TRUE(chain) << why;
  ASSERT_EQ(chain->length(), 2);
  EXPECT_EQ(chain->input, std::vector<TensorId>{g.find_tensor("x")});
  EXPECT_EQ(chain->stages[0].activation, std::vector<TensorId>{g.find_tensor("a1")});
  EXPECT_EQ(chain->stages[1].saved, (std::vector<TensorId>{g.find_tensor("a2"), g.find_tensor("s2")}));
  EXPECT_EQ(chain->stages[1].gradient, std::vector<TensorId>{g.find_tensor("g1")});
  EXPECT_EQ(chain->stages[0].backward_unread, std::vector<TensorId>{g.find_tensor("g0")});
  EXPECT_EQ(chain->stages[0].backward, g.find_node("B1"));
}

TEST(RecognizeChain, GeneratedChainsAreChains) {
  for (int n : {1, 2, 7, 30}) {
    Graph g = random_chain(n, 11);
    std::string why;
    auto chain = recognize_chain(g, &why);
    ASSERT_TRUE(chain) << why;
    EXPECT_EQ(chain->length(), n);
  }
  EXPECT_TRUE(recognize_chain(uniform_chain(5)));
}

TEST(RecognizeChain, OddNodeCountIsExplained) {
  GraphBuilder b("odd");
  b.input("x", 1);
  b.node("F", 1, {"x"}, {{"y", 1}});
  std::string why;
  EXPECT_FALSE(recognize_chain(std::move(b).build(), &why));
  EXPECT_EQ(why, "not a chain: a chain of n stages has 2n nodes (F1..Fn then Bn..B1); this graph has 1");
}

// A skip connection: F3 reads a1 (from stage 1), which a chain does not allow.
TEST(RecognizeChain, SkipConnectionIsNamed) {
  GraphBuilder b("skip");
  b.input("x", 1);
  b.node("F1", 1, {"x"}, {{"a1", 1}});
  b.node("F2", 1, {"a1"}, {{"a2", 1}});
  b.node("F3", 1, {"a2", "a1"}, {{"a3", 1}});
  b.node("B3", 1, {"a3"}, {{"g2", 1}});
  b.node("B2", 1, {"g2"}, {{"g1", 1}});
  b.node("B1", 1, {"g1"}, {{"g0", 1}});
  std::string why;
  EXPECT_FALSE(recognize_chain(std::move(b).build(), &why));
  EXPECT_NE(why.find("tensor \"a1\" of node \"F1\" (forward stage 1) is read by node \"F3\" (forward stage 3)"),
            std::string::npos) << why;
}

TEST(RequireChain, ErrorNamesSolverAndGraph) {
  Graph g = random_dag(6, 1, RandomDagOptions{.max_fan_in = 3, .long_edge_probability = 1.0});
  try {
    require_chain(g, "revolve");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("solver \"revolve\" needs a chain; graph \"random-dag-6-seed1\" is not a chain"),
              std::string::npos) << e.what();
  }
}

TEST(Generators, AreDeterministicAndReplay) {
  for (const Graph& g : {random_chain(12, 5), random_chain(12, 5, {.with_workspace = true}), uniform_chain(9),
                         random_dag(25, 3)}) {
    Schedule s = store_all_schedule(g);
    testing::expect_replays(g, s);
    EXPECT_GT(s.peak_bytes, 0u);
  }
  EXPECT_EQ(store_all_peak_bytes(random_chain(20, 9)), store_all_peak_bytes(random_chain(20, 9)));
  EXPECT_NE(store_all_peak_bytes(random_chain(20, 9)), store_all_peak_bytes(random_chain(20, 10)));
  EXPECT_EQ(random_dag(40, 2).num_nodes(), 80);
}

}  // namespace
}  // namespace gradrecomp
